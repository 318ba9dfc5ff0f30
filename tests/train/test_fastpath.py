"""The GPU fast path (train.precision, channels-last layout, train.compile, uint8 pixels on
the device) as far as a CPU can check it: each switch forced on here keeps pruned weights
exactly zero and the results where they belong, and the defaults change nothing of CPU
training; on CPU a convolutional network is evaluated through a channels-last copy, and the
flip probe predicts in bf16 where the CPU computes it natively."""

import sys

import numpy as np
import pytest
import torch
from torch import nn

import prac.train.loop
from prac.setup import on_device
from prac.config.schema import Config, DatasetConfig, TrainConfig, digest
from prac.config.load import load_config
from prac.data.dataset import Pixels, batch
from prac.data.prepare import Raw, finish
from prac.train.loop import train
from prac.train.evaluate import evaluate
from prac.train.fastpath import amp_dtype, eval_layout, is_channels_last, probe_dtype
from prac.errors import PracError
from prac.prune import magnitude_masks
from prac.select import predict, prune_flips
from prac.select.track import ForgettingTracker

CUDA = torch.cuda.is_available()


def images(n=96, seed=0):
    """A uint8 image data set (3×8×8, 3 classes; the class brightens one channel), through
    the same ``finish`` as every loader."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n + 40)
    x = rng.integers(0, 200, (n + 40, 3, 8, 8)).astype(np.uint8)
    x[np.arange(n + 40), y] += 55
    raw = Raw(x[:n], y[:n], x[n:], y[n:], source="test images", num_classes=3)
    return finish(raw, DatasetConfig(kind="npz", val_size=16))


def convnet():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 3))


def run(cfg, x=None, y=None, masks=None, epochs=3, **kw):
    if x is None:
        d = images()
        x, y = d.x_train, d.y_train
    m = convnet()
    tracker = ForgettingTracker(len(y))
    train(m, x, y, torch.arange(len(y)), cfg, epochs=epochs, seed=5, masks=masks, listeners=[tracker], **kw)
    return m, tracker


def same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def pruned_are_zero(model, masks):
    return all(bool((p[~masks[k]] == 0).all()) for k, p in model.named_parameters() if k in masks)


BASE = TrainConfig(batch_size=16, lr=0.01, augment=True)


def test_defaults_equal_the_explicit_fp32_contiguous_eager_run_bit_for_bit():
    masks = magnitude_masks(convnet(), None, 0.5, 0.25)
    a, ta = run(BASE, masks=masks)
    b, tb = run(TrainConfig(**{**BASE.__dict__, "precision": "fp32", "compile": False}), masks=masks)
    assert same(a, b) and all(torch.equal(ta.state_dict()[k], tb.state_dict()[k]) for k in ta.state_dict())
    assert not is_channels_last(a)          # channels-last is CUDA's only: on CPU the model is left as it was


def test_bf16_autocast_trains_with_fp32_weights_and_exact_zeros():
    masks = magnitude_masks(convnet(), None, 0.5, 0.25)
    fp32, _ = run(BASE, masks=masks)
    bf16, tracker = run(TrainConfig(**{**BASE.__dict__, "precision": "bf16"}), masks=masks, epochs=6)
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    assert pruned_are_zero(bf16, masks)
    assert not same(fp32, bf16)                         # autocast really ran in bf16
    assert int(tracker.presentations.sum()) == 6 * 80 and all(torch.isfinite(p).all() for p in bf16.parameters())
    d = images()
    assert evaluate(bf16, d.x_train, d.y_train, precision="bf16") > 0.6     # it learned (chance: 1/3)


def test_cpu_evaluates_a_convnet_through_a_channels_last_copy_and_leaves_the_model_alone():
    """Evaluation's channels-last copy (``eval_layout``): the same outputs as the default
    layout up to float rounding, and the trained model, its layout and its storage untouched
    (the optimizer and the masks hold those tensors)."""
    d = images()
    masks = magnitude_masks(convnet(), None, 0.5, 0.25)
    m, _ = run(BASE, masks=masks)
    m.eval()
    storage = [p.data_ptr() for p in m.parameters()]
    twin, channels_last = eval_layout(m, d.x_test, torch.device("cpu"))
    assert channels_last and twin is not m and is_channels_last(twin) and not is_channels_last(m)
    with torch.no_grad():
        plain = m(d.x_test)
    logits = predict(m, d.x_test, logits=True, precision="fp32")
    assert torch.allclose(logits, plain, atol=1e-5, rtol=1e-5)
    assert torch.equal(predict(m, d.x_test, precision="fp32"), plain.argmax(1))
    assert evaluate(m, d.x_test, d.y_test) == float((plain.argmax(1) == d.y_test).float().mean())
    assert [p.data_ptr() for p in m.parameters()] == storage and all(p.is_contiguous() for p in m.parameters())
    assert pruned_are_zero(m, masks)
    # a network without convolutions, or flat inputs, is evaluated as it is
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
    assert eval_layout(mlp, d.x_test, torch.device("cpu")) == (mlp, False)
    assert eval_layout(m, d.x_test.flatten(1), torch.device("cpu")) == (m, False)


def test_channels_last_on_cpu_matches_the_default_layout(monkeypatch):
    """Channels-last forced on for CPU (the loop takes it on CUDA only). Another layout sums
    in another order: float-rounding differences, which SGD keeps at that size (Adam's first
    steps, about lr x sign(gradient), can blow up the noise of a gradient that is zero but
    for rounding, such as a conv bias before BatchNorm)."""
    masks = magnitude_masks(convnet(), None, 0.5, 0.25)
    sgd = TrainConfig(**{**BASE.__dict__, "optimizer": "sgd", "lr": 0.05})
    a, ta = run(sgd, masks=masks)
    monkeypatch.setattr(prac.train.loop, "wants_channels_last", lambda device, x: x.dim() == 4)
    b, tb = run(sgd, masks=masks)
    monkeypatch.undo()
    assert is_channels_last(b) and pruned_are_zero(b, masks)
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), atol=1e-4, rtol=1e-4)
    d = images()
    assert abs(evaluate(a, d.x_test, d.y_test) - evaluate(b, d.x_test, d.y_test)) <= 1 / len(d.y_test)
    # the model stays channels-last; its state is the same values, and loads into a fresh net
    fresh = convnet()
    fresh.load_state_dict(b.state_dict())
    assert torch.equal(predict(fresh, d.x_test), predict(b, d.x_test))
    for scope in ("layerwise", "global"):   # pruning reads the weights in logical order, whatever the layout
        new, old = magnitude_masks(b, masks, 0.3, 0.1, scope), magnitude_masks(fresh, masks, 0.3, 0.1, scope)
        assert all(torch.equal(new[k], old[k]) for k in masks)


def test_uint8_pixels_normalise_to_the_float_tensors():
    d = images()
    assert d.pixels and d.input_shape == (3, 8, 8)
    for k in ("x_train", "x_val", "x_test"):
        px = d.as_pixels(k, "cpu")
        assert isinstance(px, Pixels) and px.u8.dtype == torch.uint8 and len(px) == len(getattr(d, k))
        idx = torch.randperm(len(px))[:10]
        assert (batch(px, idx) - getattr(d, k)[idx]).abs().max() <= 1e-6
        assert (batch(px, slice(2, None, 3)) - getattr(d, k)[2::3]).abs().max() <= 1e-6
    # float sources (digits, features) have no pixels; the float tensors stay
    floats = finish(Raw(np.random.rand(30, 1, 4, 4).astype(np.float32), np.arange(30) % 2,
                        np.random.rand(8, 1, 4, 4).astype(np.float32), np.arange(8) % 2, source="f"),
                    DatasetConfig(kind="npz", val_size=5))
    assert not floats.pixels and floats.as_pixels("x_train", "cpu") is None
    t = on_device(floats, torch.device("cpu"), pixels=True)
    assert all(isinstance(v, torch.Tensor) for v in t.values())


def test_training_evaluation_and_prediction_on_pixels_equal_the_float_path():
    d = images()
    t = on_device(d, torch.device("cpu"), pixels=True)
    assert isinstance(t["x_train"], Pixels) and isinstance(t["y_train"], torch.Tensor)
    assert all(isinstance(v, torch.Tensor) for v in on_device(d, torch.device("cpu")).values())  # CPU default
    masks = magnitude_masks(convnet(), None, 0.5, 0.25)
    a, ta = run(BASE, d.x_train, d.y_train, masks)
    b, tb = run(BASE, t["x_train"], t["y_train"], masks)
    assert same(a, b) and torch.equal(ta.forgetting_events, tb.forgetting_events)
    assert evaluate(a, d.x_test, d.y_test) == evaluate(b, t["x_test"], t["y_test"])
    assert torch.equal(predict(a, d.x_train, batch_size=7), predict(b, t["x_train"], batch_size=7))


def test_compile_runs_the_forward_through_the_compiled_module_and_keeps_the_model(monkeypatch):
    """The plumbing only (a real torch.compile costs tens of seconds here): the compiled
    module does every training forward, while masks and weights stay on ``model``."""
    seen = []

    class Compiled(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            seen.append(len(x))
            return self.net(x)

    monkeypatch.setattr(torch, "compile", lambda net, **kw: Compiled(net))
    masks = magnitude_masks(convnet(), None, 0.5, 0.25)
    a, _ = run(BASE, masks=masks)
    b, _ = run(TrainConfig(**{**BASE.__dict__, "compile": True}), masks=masks)
    assert seen == [16] * 15 and type(b) is nn.Sequential     # 3 epochs of 80 samples in batches of 16
    assert same(a, b) and pruned_are_zero(b, masks)


def test_no_host_read_of_a_tensor_per_batch(monkeypatch):
    """On CUDA every host read of a device tensor (``bool``, ``item``, ``tolist``, ...) is a
    synchronisation. Counted here on CPU for the calls made from prac's own code: one per
    epoch (the divergence check), none per batch."""
    reads = []

    def counting(name):
        orig = getattr(torch.Tensor, name)

        def read(self, *a, **k):
            if sys._getframe(1).f_globals.get("__name__", "").startswith("prac"):
                reads.append(name)
            return orig(self, *a, **k)
        return read

    d = images()
    masks = magnitude_masks(convnet(), None, 0.5, 0.25)
    for name in ("__bool__", "item", "tolist", "__int__", "__float__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    m = convnet()
    train(m, d.x_train, d.y_train, torch.arange(80), TrainConfig(batch_size=4, augment=True), epochs=2, seed=0,
          masks=masks, listeners=[ForgettingTracker(80)])
    assert reads == ["__bool__", "__bool__"]       # 40 batches, 2 epochs: the per-epoch isfinite only


def test_config_fields_validate_and_leave_the_digest_alone():
    assert digest(Config()) == digest(Config(train=TrainConfig(precision="auto", compile=False)))
    assert digest(Config(train=TrainConfig(precision="bf16"))) != digest(Config())
    for override, message in [("train.precision=fp16", r"^train\.precision 'fp16' is unknown; use auto, fp32 or bf16$"),
                              ("train.channels_last=true", r"^train\.channels_last was removed"),
                              ("train.compile=maybe", r"^train\.compile='maybe' has the wrong type; expected bool$")]:
        with pytest.raises(PracError, match=message):
            load_config(None, [override])


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_fast_path_holds_pixels_and_makes_no_sync_per_batch():
    d = images(512)
    dev = torch.device("cuda")
    t = on_device(d, dev)                             # auto: pixels on CUDA
    assert isinstance(t["x_train"], Pixels) and t["x_train"].u8.is_cuda
    assert (batch(t["x_train"], slice(None)).cpu() - d.x_train).abs().max() <= 1e-6
    masks = {k: v.to(dev) for k, v in magnitude_masks(convnet(), None, 0.5, 0.25).items()}
    cfg = TrainConfig(batch_size=32, lr=0.01, augment=True)   # auto: bf16 + channels-last
    m = convnet().to(dev)
    tracker = ForgettingTracker(len(d.y_train), device=dev)
    train(m, t["x_train"], t["y_train"], torch.arange(len(d.y_train)), cfg, epochs=1, seed=0, masks=masks,
          listeners=[tracker])                        # warm-up: pinned blocks, cuDNN plans
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with _Recorder() as rec:
            train(m, t["x_train"], t["y_train"], torch.arange(len(d.y_train)), cfg, epochs=2, seed=1, masks=masks,
                  listeners=[tracker])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    batches = 2 * -(-len(d.y_train) // 32)
    assert len(rec.syncs) <= 2 * 2, rec.syncs          # per epoch, not per batch (of 32 here)
    assert batches >= 20 and is_channels_last(m) and pruned_are_zero(m, masks)
    assert evaluate(m, t["x_test"], t["y_test"]) > 0.5


class _Recorder:
    """Collects the 'called a synchronizing CUDA operation' warnings of sync debug mode."""

    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings(record=True)
        self._log = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)

    @property
    def syncs(self):
        return [str(w.message) for w in self._log if "synchroniz" in str(w.message)]


@pytest.mark.parametrize("native", [False, True])
def test_the_probe_predicts_in_bf16_only_where_the_device_computes_it_natively(native, monkeypatch):
    """Under train.precision=auto on a CPU, training and evaluation stay fp32; the flip probe's
    two passes run in bf16 where the CPU has AVX512-BF16 or AMX, in fp32 elsewhere (where bf16
    is emulated and slower), and in what an explicit fp32 or bf16 says everywhere."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    cpu = torch.device("cpu")
    assert probe_dtype("auto", cpu) == (torch.bfloat16 if native else None) and amp_dtype("auto", cpu) is None
    assert probe_dtype("fp32", cpu) is None and probe_dtype("bf16", cpu) == torch.bfloat16
    d, m = images(), convnet()
    auto = predict(m, d.x_train, logits=True)
    assert torch.equal(auto, predict(m, d.x_train, logits=True, precision="bf16" if native else "fp32"))
    assert not torch.equal(predict(m, d.x_train, logits=True, precision="bf16"),
                           predict(m, d.x_train, logits=True, precision="fp32"))
    # the unpruned pass a caller hands in (the build's dense logits) is in the probe's own precision
    flips = prune_flips(m, None, d.x_train, 0.5, 0.25)
    assert torch.equal(prune_flips(m, None, d.x_train, 0.5, 0.25, reference=auto), flips)
