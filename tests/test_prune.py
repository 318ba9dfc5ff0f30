import torch
from torch import nn

from prac.config.schema import TrainConfig
from prac.train.loop import train
from prac.prune import CRITERIA, apply_masks, density, full_masks, magnitude_masks


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 5)
        self.out = nn.Linear(5, 3)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


def toy():
    torch.manual_seed(0)
    m = Toy()
    with torch.no_grad():  # exact, distinct magnitudes
        m.hidden.weight.copy_(torch.arange(1, 21, dtype=torch.float).view(5, 4) * torch.tensor([1, -1, 1, -1]))
        m.out.weight.copy_(torch.arange(1, 16, dtype=torch.float).view(3, 5))
    return m


def test_layerwise_pruning_removes_exactly_the_smallest_weights():
    m = toy()
    masks = magnitude_masks(m, None, rate=0.25, out_rate=0.2)
    assert set(masks) == {"hidden.weight", "out.weight"}     # biases are never pruned
    assert masks["hidden.weight"].flatten().tolist() == [False] * 5 + [True] * 15
    assert masks["out.weight"].flatten().tolist() == [False] * 3 + [True] * 12
    second = magnitude_masks(m, masks, rate=0.2, out_rate=0.0)   # 20 % of the remaining 15
    assert second["hidden.weight"].flatten().tolist() == [False] * 8 + [True] * 12
    assert torch.equal(second["out.weight"], masks["out.weight"])


def test_pruned_weights_never_come_back_even_if_large():
    m = toy()
    masks = magnitude_masks(m, None, rate=0.25, out_rate=0.0)
    with torch.no_grad():
        m.hidden.weight[0, 0] = 1000.0   # was pruned; a large value must not resurrect it
    again = magnitude_masks(m, masks, rate=0.0 + 1e-9, out_rate=0.0)
    assert not again["hidden.weight"][0, 0]


def test_global_scope_ranks_hidden_layers_together():
    m = toy()
    masks = magnitude_masks(m, None, rate=0.5, out_rate=0.0, scope="global")
    assert int(masks["hidden.weight"].sum()) == 10 and int(masks["out.weight"].sum()) == 15


def test_density():
    m = toy()
    full = full_masks(m)
    half = magnitude_masks(m, None, rate=0.5, out_rate=0.0)
    assert density(full) == 1.0
    assert abs(density(half) - 25 / 35) < 1e-9


def test_masks_stay_exactly_zero_through_training():
    torch.manual_seed(0)
    m = toy()
    masks = magnitude_masks(m, None, rate=0.5, out_rate=0.3)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    for opt in ("adam", "sgd"):
        cfg = TrainConfig(epochs=3, batch_size=8, lr=0.1, optimizer=opt, weight_decay=0.01)
        train(m, x, y, torch.arange(64), cfg, epochs=3, seed=0, masks=masks)
        for name, p in m.named_parameters():
            if name in masks:
                assert torch.all(p[~masks[name]] == 0), name
                assert torch.all(p[masks[name]] != 0), name   # the kept weights did train


def test_apply_masks_zeroes():
    m = toy()
    masks = magnitude_masks(m, None, rate=0.5, out_rate=0.5)
    apply_masks(m, masks)
    assert int((m.hidden.weight != 0).sum()) == 10


def test_conv_kernels_take_their_own_rate_and_the_fc_layers_keep_theirs():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 10), nn.Linear(10, 3))
    masks = magnitude_masks(m, None, rate=0.2, out_rate=0.1, conv_rate=0.5)
    assert [int(masks[n].sum()) for n in ("0.weight", "2.weight", "3.weight")] == [18, 512, 27]  # 36, 640, 30 kept at 50/80/90 %
    again = magnitude_masks(m, masks, rate=0.2, out_rate=0.1, conv_rate=0.5)    # of the remaining weights
    assert int(again["0.weight"].sum()) == 9 and int(again["2.weight"].sum()) == round(512 * 0.8)
    plain = magnitude_masks(m, None, rate=0.2, out_rate=0.1)                    # unset: conv at the hidden rate
    assert int(plain["0.weight"].sum()) == round(36 * 0.8)


def test_a_conv_rate_with_global_pruning_is_refused():
    import pytest

    from prac.config.load import load_config
    from prac.errors import PracError

    with pytest.raises(PracError, match="prune.scope=global ranks all hidden weights together"):
        load_config(None, ["prune.conv_rate=0.1", "prune.scope=global"])


def test_same_sign_ranks_weights_that_crossed_zero_below_every_other():
    m = toy()
    init = {n: p.detach().clone() for n, p in m.named_parameters() if n.endswith("weight")}
    with torch.no_grad():  # the two largest hidden weights (20 and -19 at init) cross zero
        m.hidden.weight[4, 3] = 20.0
        m.hidden.weight[4, 2] = -19.0
    plain = magnitude_masks(m, None, rate=0.5, out_rate=0.0)
    signed = magnitude_masks(m, None, rate=0.5, out_rate=0.0, criterion="same_sign", init=init)
    assert plain["hidden.weight"][4, 3] and plain["hidden.weight"][4, 2]
    assert not signed["hidden.weight"][4, 3] and not signed["hidden.weight"][4, 2]
    # the rest of the ranking is still by magnitude: the 10 largest weights that kept their sign
    expect = torch.arange(1, 21).view(5, 4) >= 9
    expect[4, 2:] = False
    assert torch.equal(signed["hidden.weight"], expect)
    # with nothing flipped the criterion is plain magnitude
    assert torch.equal(magnitude_masks(toy(), None, 0.5, 0.0, criterion="same_sign", init=init)["hidden.weight"],
                       magnitude_masks(toy(), None, 0.5, 0.0)["hidden.weight"])


def test_the_criteria_registry_holds_magnitude_and_same_sign_only():
    assert set(CRITERIA) == {"magnitude", "same_sign"}
