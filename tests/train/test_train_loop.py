import math

import torch
from torch import nn

from prac.config.schema import TrainConfig
from prac.train.augment import augment
from prac.train.loop import steps_for, train
from prac.train.optim import lr_factor


def data(n=100):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=g)
    return x, (x[:, 0] > 0).long()


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))


class Seen:
    def __init__(self):
        self.idx = []

    def on_batch(self, indices, correct):
        assert indices.shape == correct.shape and correct.dtype == torch.bool
        self.idx.append(indices.clone())


def test_trains_only_on_the_subset_and_counts_fractional_epochs():
    x, y = data()
    subset = torch.tensor([3, 7, 11, 50, 99, 42, 8])
    seen = Seen()
    cfg = TrainConfig(batch_size=3)
    st = train(model(), x, y, subset, cfg, epochs=2.0, seed=0, listeners=[seen])
    got = torch.cat(seen.idx)
    assert set(got.tolist()) == set(subset.tolist())
    assert st.steps == 2 * math.ceil(7 / 3) == len(seen.idx)
    assert torch.bincount(got, minlength=100)[subset].tolist() == [2] * 7   # each sample once per epoch
    st = train(model(), x, y, subset, cfg, epochs=0.5, seed=0)
    assert st.steps == steps_for(0.5, 7, 3) == 2


def test_same_seed_same_weights_and_different_seed_differs():
    x, y = data()
    cfg = TrainConfig(batch_size=10, lr=0.01)
    a, b, c = model(), model(), model()
    train(a, x, y, torch.arange(100), cfg, epochs=2, seed=1)
    train(b, x, y, torch.arange(100), cfg, epochs=2, seed=1)
    train(c, x, y, torch.arange(100), cfg, epochs=2, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_learns_a_separable_problem():
    x, y = data(400)
    m = model()
    train(m, x, y, torch.arange(400), TrainConfig(batch_size=32, lr=0.01), epochs=10, seed=0)
    assert (m(x).argmax(1) == y).float().mean() > 0.95


def test_schedules():
    cos = lr_factor(TrainConfig(schedule="cosine"), 100)
    assert cos(0) == 1.0 and abs(cos(50) - 0.5) < 1e-9 and cos(99) < 0.01
    step = lr_factor(TrainConfig(schedule="step", milestones=(0.5, 0.75)), 100)   # x0.1 at each milestone
    assert step(10) == 1.0 and abs(step(60) - 0.1) < 1e-12 and abs(step(80) - 0.01) < 1e-12
    warm = lr_factor(TrainConfig(warmup=0.1), 100)
    assert warm(0) == 0.1 and warm(9) == 1.0 and warm(50) == 1.0


def test_augment_is_a_shifted_possibly_flipped_crop():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float).view(2, 1, 6, 6) + 1
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for i in range(2):   # every non-zero value of the crop comes from the (possibly flipped) image
        vals = set(out[i][out[i] != 0].tolist())
        assert vals <= set(x[i].flatten().tolist())


def test_engine_equals_the_textbook_loop_that_masks_gradients_too():
    """Leaving gradients unmasked (for speed) must not change a single kept weight."""
    from prac.prune import magnitude_masks

    x, y = data(96)
    for opt_name in ("adam", "sgd"):
        cfg = TrainConfig(batch_size=16, lr=0.05, optimizer=opt_name, weight_decay=0.01)
        a, b = model(), model()
        masks = magnitude_masks(a, None, rate=0.6, out_rate=0.3)
        train(a, x, y, torch.arange(96), cfg, epochs=3, seed=4, masks=masks)

        names = {id(p): n for n, p in b.named_parameters()}
        with torch.no_grad():
            for p in b.parameters():
                if names[id(p)] in masks:
                    p.mul_(masks[names[id(p)]])
        opt = (torch.optim.Adam(b.parameters(), lr=0.05, weight_decay=0.01) if opt_name == "adam"
               else torch.optim.SGD(b.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01))
        gen = torch.Generator().manual_seed(4)
        for _ in range(3):
            perm = torch.arange(96)[torch.randperm(96, generator=gen)]
            for i in range(0, 96, 16):
                idx = perm[i:i + 16]
                loss = torch.nn.functional.cross_entropy(b(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                for p in b.parameters():
                    if names[id(p)] in masks:
                        p.grad.mul_(masks[names[id(p)]])
                opt.step()
                with torch.no_grad():
                    for p in b.parameters():
                        if names[id(p)] in masks:
                            p.mul_(masks[names[id(p)]])
        for (n, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.equal(p, q), (opt_name, n)


class PerBatch:
    """A forgetting tracker fed one call per batch, as the listener protocol has it."""
    merge_batches = False

    def __init__(self, n):
        from prac.select.track import ForgettingTracker
        self.tracker = ForgettingTracker(n)

    def on_epoch_start(self, epoch):
        self.tracker.start_epoch(epoch)

    def on_batch(self, indices, correct):
        self.tracker.update(indices, correct)


class Merged(Seen):
    merge_batches = True


def test_tracker_fed_once_per_epoch_ends_as_if_fed_per_batch():
    from prac.prune import magnitude_masks
    from prac.select.track import ForgettingTracker

    x, y = data(200)
    cfg = TrainConfig(batch_size=16, lr=0.05)
    for subset, epochs in ((torch.arange(200), 3), (torch.arange(0, 200, 3), 2.5)):
        merged, per_batch, seen, whole = ForgettingTracker(200), PerBatch(200), Seen(), Merged()
        a, b = model(), model()
        masks = magnitude_masks(a, None, rate=0.5, out_rate=0.2)
        st = train(a, x, y, subset, cfg, epochs=epochs, seed=1, masks=masks, listeners=[merged, seen, whole])
        train(b, x, y, subset, cfg, epochs=epochs, seed=1, masks=masks, listeners=[per_batch])
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
        for k, v in merged.state_dict().items():
            assert torch.equal(v, per_batch.tracker.state_dict()[k]), k
        assert int(merged.presentations.sum()) == st.samples > 0
        assert len(seen.idx) == st.steps                      # a plain listener still hears every batch
        assert len(whole.idx) == math.ceil(st.epochs)        # a merging one once per epoch, in batch order
        assert torch.equal(torch.cat(whole.idx), torch.cat(seen.idx))


def test_a_subset_with_repeated_indices_is_fed_per_batch():
    x, y = data()
    whole = Merged()
    st = train(model(), x, y, torch.tensor([1, 2, 2, 3, 4, 5]), TrainConfig(batch_size=2), epochs=2, seed=0,
               listeners=[whole])
    assert len(whole.idx) == st.steps == 6


# ---------------------------------------------------------------- regression (float targets)

def test_regression_trains_and_its_tracker_fed_once_per_epoch_equals_per_batch():
    from prac.train.evaluate import evaluate, evaluate_mse
    from prac.select.track import ForgettingTracker

    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=g) * 2 - 1
    y = torch.stack([x[:, 0].clamp_min(0), x[:, 1] - x[:, 0]], 1) + 0.01 * torch.randn(200, 2, generator=g)
    cfg = TrainConfig(batch_size=16, lr=0.01)
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    b = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    b.load_state_dict(a.state_dict())
    before = evaluate_mse(a, x, y)
    merged, per_batch = ForgettingTracker(200), PerBatch(200)
    train(a, x, y, torch.arange(200), cfg, epochs=8, seed=1, listeners=[merged], learned_mse=1e-3)
    train(b, x, y, torch.arange(200), cfg, epochs=8, seed=1, listeners=[per_batch], learned_mse=1e-3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    for k, v in merged.state_dict().items():
        assert torch.equal(v, per_batch.tracker.state_dict()[k]), k
    assert evaluate_mse(a, x, y) < before / 10               # it learned (MSE loss)
    # half-way there at 1e-3: some samples learned, some of them forgotten again, some never
    assert 0 < int(merged.never_learned.sum()) < 200 and int(merged.forgetting_events.sum()) > 0
    assert 0 < evaluate(a, x, y, learned_mse=1e-3) < 1
