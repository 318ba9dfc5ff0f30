"""Run from the repository root: .venv/bin/python docs/profile/eval-channels-last/eval_layout_microbench.py

evaluate() on 5,000 Fashion-MNIST-shaped images: default layout vs the channels-last copy, per model and eval batch."""
import time, torch, dataclasses, sys
torch.set_num_threads(1)
import prac.train.evaluate as E
from prac.models.registry import build_model
from prac.config.schema import ModelConfig
orig = E.eval_layout
def timed(m, x, y, bs, new):
    E.eval_layout = orig if new else (lambda m, x, device: (m, False))
    t = time.perf_counter(); a = E.evaluate(m, x, y, batch_size=bs); return time.perf_counter() - t, a
specs = [("conv2", 0.125, (1, 28, 28)), ("conv2", 1.0, (1, 28, 28)), ("resnet20", 0.25, (3, 32, 32)), ("vgg16", 0.125, (3, 32, 32))]
for name, w, shape in specs[: int(sys.argv[1]) if len(sys.argv) > 1 else 4]:
    m = build_model(dataclasses.replace(ModelConfig(), name=name, width=w), shape, 10)
    x = torch.randn(5000 if w < 1 else 2000, *shape); y = torch.randint(0, 10, (len(x),))
    for bs in (256, 1024):
        r = [(timed(m, x, y, bs, False), timed(m, x, y, bs, True)) for _ in range(3)]
        old = min(a[0][0] for a in r); new = min(a[1][0] for a in r)
        print(f"{name} w{w} n{len(x)} bs{bs}: default {old:.3f}s  channels-last copy {new:.3f}s  x{old/new:.2f}  acc {r[0][0][1]:.4f} {r[0][1][1]:.4f}", flush=True)
