"""Gradients reach every prunable weight; models accept channels-last batches."""

import pytest
import torch
import torch.nn.functional as F

from prac.config.schema import ModelConfig
from prac.models import MODELS, build_model, prunable


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_flow_to_every_prunable_weight(name):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name), (1, 8, 8), 10)
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    F.cross_entropy(model(x), y).backward()
    for pname, w in prunable(model).items():
        assert w.grad is not None, pname
        assert torch.isfinite(w.grad).all(), pname
        assert w.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", ["conv2", "vgg16", "resnet20", "lenet_300_100"])
def test_channels_last_matches_contiguous(name):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name), (3, 16, 16), 10).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
