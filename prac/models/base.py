"""What every model shares: input-shape checks, the initialisation, and the pruning view.

Masks live outside the module (a dict from parameter name to a 0/1 tensor), so the two
things the rest of ``prac`` needs from a model are the names of the weights that pruning
acts on (``prunable``) and the name of the output layer's weight (``output_name``, pruned
at a lower rate).
"""

from __future__ import annotations

from torch import nn

from prac.errors import PracError

FLAT_MODELS = ("lenet_300_100", "mlp")


def image_shape(model: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(C, H, W)`` of an image input, or a ``PracError`` saying why the data do not fit."""
    shape = tuple(input_shape)
    if len(shape) == 1:
        raise PracError(f"model {model} needs image input (C×H×W) but the data are flat features of size "
                        f"{shape[0]}; use model {' or '.join(FLAT_MODELS)}")
    if len(shape) != 3:
        raise PracError(f"model {model} needs image input (C×H×W) but the data have shape {shape}; "
                        f"give images as N×C×H×W (add the channel axis) or use model {' or '.join(FLAT_MODELS)}")
    return shape  # type: ignore[return-value]


def check_width(cfg) -> float:
    """The ``model.width`` channel multiplier, refused unless positive."""
    width = float(getattr(cfg, "width", 1.0))
    if not 0 < width <= 64:  # 64x VGG-16's channels is ~1e12 weights: no machine holds more
        raise PracError(f"model.width={width} must be a positive channel multiplier up to 64; use e.g. 0.25 or 1")
    return width


def scaled(channels: int, width: float) -> int:
    """``channels`` times the ``model.width`` multiplier, at least 1."""
    return max(1, round(channels * width))


def conv_stack(plan, shape: tuple[int, int, int], batchnorm: bool, width: float = 1.0) -> tuple[nn.Sequential, tuple[int, int, int]]:
    """VGG-style features from a plan of widths and "M" (2×2 max-pool); 3×3 convs, padding 1.

    A pool that would shrink the map below 1×1 is skipped (VGG-16 on small images); every
    width is multiplied by ``width``.
    Returns the layers and the output shape (C, H, W)."""
    c, h, w = shape
    layers: list[nn.Module] = []
    for v in plan:
        if v == "M":
            if h >= 2 and w >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            continue
        v = scaled(v, width)
        layers += [nn.Conv2d(c, v, kernel_size=3, padding=1)] + ([nn.BatchNorm2d(v)] if batchnorm else [])
        layers.append(nn.ReLU(inplace=True))
        c = v
    return nn.Sequential(*layers), (c, h, w)


def init_weights(model: nn.Module) -> nn.Module:
    """OpenLTH's initialisation, in place; returns ``model``.

    Conv and linear weights: kaiming-normal, fan_in, gain sqrt(2) (``kaiming_normal_``'s
    defaults; OpenLTH's ``kaiming_normal`` initializer). Biases: zero. Batch norm: weight 1,
    bias 0. Kaiming rather than PyTorch's default kaiming-uniform(a=sqrt(5)) because the
    lottery-ticket results we compare with were all obtained with it.
    """
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


# A user's model may name its prunable weights (``prac.find_ticket(..., prunable=[...])``);
# the list rides on the module as a plain attribute, so every place that asks
# ``prunable(model)`` (engine, pruning, probe, export) gets the same answer without a new
# argument, and it survives ``copy.deepcopy``.
PRUNABLE_ATTR = "prac_prunable"
_PRUNED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights pruning acts on, by parameter name, in module registration order.

    The ``.weight`` of every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` (biases and batch norm
    are never pruned), or the parameters a model names in its ``prac_prunable`` attribute.
    Names are those of ``model.named_parameters()`` / ``state_dict()``.
    """
    chosen = getattr(model, PRUNABLE_ATTR, None)
    if chosen is not None:
        params = dict(model.named_parameters())
        return {n: params[n] for n in chosen}
    return {f"{name}.weight" if name else "weight": m.weight
            for name, m in model.named_modules() if isinstance(m, _PRUNED_LAYERS)}


def output_name(model: nn.Module) -> str:
    """Parameter name of the output layer's weight (pruned at half the rate): the last
    ``nn.Linear`` registered, or, for a model that names its prunable weights, the last of
    them that is a Linear's weight (the last named weight when none is)."""
    linears = [f"{name}.weight" if name else "weight"
               for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    chosen = getattr(model, PRUNABLE_ATTR, None)
    if chosen is not None:
        named = [n for n in chosen if n in linears]
        return (named or list(chosen))[-1]
    if not linears:
        raise PracError(f"model {type(model).__name__} has no nn.Linear output layer; "
                        "give it one, or name its prunable weights (prunable=[...])")
    return linears[-1]
