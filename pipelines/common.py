"""Temporary: moved to prac.setup (removed once every importer is updated)."""
from prac.setup import Snapshot, dataset, device, on_device, state_of  # noqa: F401


def new_model(cfg, data, dev, seed=None):
    import torch
    from prac.models import build_model
    torch.manual_seed(cfg.seed if seed is None else seed)
    return build_model(cfg.model, data.input_shape, data.num_classes).to(dev)
