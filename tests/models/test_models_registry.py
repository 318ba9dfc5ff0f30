"""Every registry model builds, runs, counts its parameters right and fails clearly."""

import pytest
import torch
from torch import nn

from prac.config.schema import ModelConfig
from prac.errors import PracError
from prac.models import MODELS, build_model, output_name, prunable

SHAPES = [((1, 28, 28), 10), ((3, 32, 32), 100), ((1, 8, 8), 10)]  # Fashion-MNIST, CIFAR-100, digits


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_names():
    assert set(MODELS) == {"lenet_300_100", "mlp", "conv2", "conv4", "conv6", "vgg16",
                           "resnet20", "resnet56", "resnet18"}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape,classes", SHAPES)
def test_every_model_gives_logits(name, shape, classes):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name), shape, classes)
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["lenet_300_100", "mlp"])
def test_flat_models_take_flat_features(name):
    model = build_model(ModelConfig(name=name), (64,), 10)
    assert model(torch.randn(5, 64)).shape == (5, 10)


def test_mlp_uses_cfg_widths():
    model = build_model(ModelConfig(name="mlp", widths=(50, 40, 30)), (1, 8, 8), 10)
    shapes = [tuple(w.shape) for w in prunable(model).values()]
    assert shapes == [(50, 64), (40, 50), (30, 40), (10, 30)]
    linear = build_model(ModelConfig(name="mlp", widths=()), (64,), 10)
    assert [tuple(w.shape) for w in prunable(linear).values()] == [(10, 64)]


def test_mlp_rejects_bad_widths():
    with pytest.raises(PracError, match="widths"):
        build_model(ModelConfig(name="mlp", widths=(100, 0)), (64,), 10)


def test_lenet_parameter_count():
    model = build_model(ModelConfig(name="lenet_300_100"), (1, 28, 28), 10)
    assert n_params(model) == 266_610
    assert n_params(model) == (784 * 300 + 300) + (300 * 100 + 100) + (100 * 10 + 10)


def cifar_resnet_count(n: int, classes: int) -> int:
    """Parameters of a CIFAR ResNet with n blocks per stage, counted from the architecture:
    3×3 convs without bias, BN (2 params per channel), a 1×1 conv + BN shortcut where the
    width changes, global average pool, Linear(64, classes)."""
    def conv(i, o, k=3):
        return i * o * k * k

    def bn(c):
        return 2 * c

    def block(i, o):
        short = conv(i, o, 1) + bn(o) if i != o else 0
        return conv(i, o) + bn(o) + conv(o, o) + bn(o) + short

    total = conv(3, 16) + bn(16)
    for i, o in [(16, 16), (16, 32), (32, 64)]:
        total += block(i, o) + (n - 1) * block(o, o)
    return total + 64 * classes + classes


def test_resnet20_parameter_count():
    expected = cifar_resnet_count(3, 10)
    assert expected == 272_474  # "0.27 M" in He et al.
    model = build_model(ModelConfig(name="resnet20"), (3, 32, 32), 10)
    assert n_params(model) == expected


def test_other_parameter_counts():
    # Conv-2 on CIFAR-10: Frankle & Carbin's 4.3 M; ResNet-18 on CIFAR-10: 11,173,962 (as in
    # the common pytorch-cifar version with a 3×3 stem).
    conv2 = build_model(ModelConfig(name="conv2"), (3, 32, 32), 10)
    expected = (3 * 64 * 9 + 64) + (64 * 64 * 9 + 64) + (64 * 16 * 16 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    assert n_params(conv2) == expected == 4_301_642
    assert n_params(build_model(ModelConfig(name="resnet18"), (3, 32, 32), 10)) == 11_173_962
    expected = cifar_resnet_count(9, 10)
    assert expected == 855_770  # "0.85 M" in He et al.
    assert n_params(build_model(ModelConfig(name="resnet56"), (3, 32, 32), 10)) == expected


def test_vgg16_skips_pools_on_small_images():
    big = build_model(ModelConfig(name="vgg16"), (3, 32, 32), 10)
    small = build_model(ModelConfig(name="vgg16"), (1, 8, 8), 10)
    pools = lambda m: sum(isinstance(x, nn.MaxPool2d) for x in m.modules())  # noqa: E731
    assert pools(big) == 5 and pools(small) == 3
    assert len(prunable(big)) == 14  # 13 convs + 1 linear


@pytest.mark.parametrize("name", sorted(MODELS))
def test_prunable_is_exactly_conv_and_linear_weights(name):
    model = build_model(ModelConfig(name=name), (3, 8, 8), 10)
    expected = []
    for pname, p in model.named_parameters():
        owner = model.get_submodule(pname.rsplit(".", 1)[0])
        if isinstance(owner, (nn.Linear, nn.Conv2d)) and pname.endswith(".weight"):
            expected.append(pname)
    weights = prunable(model)
    assert list(weights) == expected  # registration order
    params = dict(model.named_parameters())
    assert all(weights[k] is params[k] for k in weights)
    assert all(p.dim() in (2, 4) for p in weights.values())
    out = output_name(model)
    assert out == expected[-1]
    assert isinstance(model.get_submodule(out.rsplit(".", 1)[0]), nn.Linear)
    assert params[out].shape[0] == 10


def test_lenet_prunable_names():
    model = build_model(ModelConfig(name="lenet_300_100"), (784,), 10)
    assert list(prunable(model)) == ["hidden.0.weight", "hidden.1.weight", "out.weight"]
    assert output_name(model) == "out.weight"


@pytest.mark.parametrize("name", ["lenet_300_100", "conv4", "resnet20", "vgg16"])
def test_same_seed_same_weights(name):
    def weights(seed):
        torch.manual_seed(seed)
        return build_model(ModelConfig(name=name), (1, 28, 28), 10).state_dict()

    a, b, c = weights(3), weights(3), weights(4)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if k.endswith("weight") and a[k].dim() > 1)


def test_initialisation_is_kaiming_fan_in_with_zero_biases():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="vgg16"), (3, 32, 32), 10)
    w = list(prunable(model).values())[-2]  # the last conv, 512×512×3×3
    assert w.shape == (512, 512, 3, 3)
    assert abs(w.std().item() - (2 / (512 * 9)) ** 0.5) < 0.02 * (2 / (512 * 9)) ** 0.5
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
            assert torch.all(m.bias == 0)
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


@pytest.mark.parametrize("name", ["conv2", "conv4", "conv6", "vgg16", "resnet20", "resnet56", "resnet18"])
def test_conv_model_on_flat_input_fails_clearly(name):
    with pytest.raises(PracError, match=rf"model {name} needs image input .* flat features of size 64; use model lenet_300_100 or mlp"):
        build_model(ModelConfig(name=name), (64,), 10)


def test_conv_model_on_image_without_channel_axis_fails_clearly():
    with pytest.raises(PracError, match="N×C×H×W"):
        build_model(ModelConfig(name="conv2"), (8, 8), 10)


def test_unknown_model_lists_known_ones():
    with pytest.raises(PracError) as err:
        build_model(ModelConfig(name="alexnet"), (3, 32, 32), 10)
    message = str(err.value)
    assert "alexnet" in message and "\n" not in message
    assert all(name in message for name in MODELS)


def test_too_small_input_fails_clearly():
    with pytest.raises(PracError, match=r"conv6 needs images of at least 8×8 pixels but the data are 4×4; use model conv2 or conv4"):
        build_model(ModelConfig(name="conv6"), (1, 4, 4), 10)
    with pytest.raises(PracError, match="at least 2×2"):
        build_model(ModelConfig(name="conv2"), (3, 1, 1), 10)


def test_empty_input_shape_fails_clearly():
    with pytest.raises(PracError, match="input shape"):
        build_model(ModelConfig(name="mlp"), (0,), 10)


def test_plain_name_accepted():
    assert n_params(build_model("lenet_300_100", (784,), 10)) == 266_610
