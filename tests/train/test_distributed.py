"""Data parallelism under torchrun (issue 6): 2-process gloo runs on CPU against one process."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from prac.select.build import build_set
from prac.setup import from_config
from prac.select import cache
from prac.train import distributed
from prac.config.load import load_config
from prac.train.augment import augment

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ["train.epochs=3", "dataset.train_limit=400"]


def torchrun(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PRAC_NO_PROGRESS": "1"}
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """Both 2-process runs, started together: most of their time is start-up, which overlaps."""
    tmp = tmp_path_factory.mktemp("ddp")
    (tmp / "check.py").write_text(textwrap.dedent(SCRIPT))
    cli = torchrun("-m", "prac", "build-prac", "--out", str(tmp / "ddp"), "-q", *[a for s in SETTINGS for a in ("--set", s)])
    script = torchrun(str(tmp / "check.py"), str(tmp / "out"))
    yield tmp, cli, script
    for proc in (cli, script):
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_two_process_build_covers_every_sample_once_per_epoch_and_matches_one_process(launched):
    tmp_path, proc, _ = launched
    single = build_set(from_config(load_config(None, SETTINGS)), tmp_path / "single")   # meanwhile, in this process
    out = finish(proc)

    assert out.count("key:") == 1                                           # printed by rank 0 only
    found = sorted((tmp_path / "ddp" / "prac").iterdir())
    assert [d.name for d in found] == [single.key]    # one entry, no temporary folders; the key ignores world size
    entry = cache.load(found[0])
    st, ref = entry.stats(), single.stats()
    assert entry.meta["world_size"] == 2 and single.meta["world_size"] == 1
    assert torch.equal(st["presentations"], torch.full((400,), 3, dtype=torch.int32))
    assert entry.meta["dense"]["steps"] == single.meta["dense"]["steps"] == 3 * 13
    a, b = set(st["index"].tolist()), set(ref["index"].tolist())
    overlap = len(a & b) / len(a | b)
    print(f"PrAC set overlap (Jaccard), 2 ranks vs 1 process: {overlap:.3f} ({len(a)} vs {len(b)} samples)")
    assert overlap >= 0.85
    # exact gradient averaging: only the summation order differs
    dense, dense1 = entry.dense(), single.dense()
    assert max(float((dense[k] - dense1[k]).abs().max()) for k in dense) < 1e-5


SCRIPT = '''
import dataclasses, hashlib, json, os, sys
import torch, torch.distributed as dist
from prac.select import build as bp
from prac.setup import from_config
from prac.select import cache
from prac.train import distributed
from prac.config.load import load_config
from prac.train.loop import train
from prac.train.evaluate import evaluate
from prac.models import prunable
from prac.prune import density, magnitude_masks
from prac.select import predict

assert distributed.init_from_env() and distributed.world_size() == 2


def everywhere(value):
    got = [None, None]
    dist.all_gather_object(got, value)
    return got


def digest(tensors):
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().to(torch.float32 if t.is_floating_point() else torch.int64).numpy().tobytes())
    return h.hexdigest()


cfg = load_config(None, ["train.epochs=1", "dataset.train_limit=200"])
setup = from_config(cfg)
t = setup.tensors()
model = setup.new_model()
masks = distributed.masks_on_main(model, None, 0.5, 0.25)
train(model, t["x_train"], t["y_train"], torch.arange(200), cfg.train, epochs=1, seed=0, masks=masks)
# 3 samples at global batch 2: the last batch holds 1 sample, so rank 1's share of it is empty
train(model, t["x_train"], t["y_train"], torch.tensor([5, 17, 42]), dataclasses.replace(cfg.train, batch_size=2),
      epochs=2, seed=1, masks=masks)
new = distributed.masks_on_main(model, masks, 0.5, 0.25)         # the pipeline's helper
local = magnitude_masks(model, masks, 0.5, 0.25)                  # each rank on its own
model.eval()
with torch.no_grad():
    pred = model(t["x_test"]).argmax(1)
mine = {
    "masks": digest(new.values()), "local_masks": digest(local.values()),
    "weights": digest(model.state_dict().values()),
    "pruned_zero": all(bool((p[~masks[k]] == 0).all()) for k, p in prunable(model).items()),
    "predict_ok": torch.equal(predict(model, t["x_test"], precision="fp32"), pred.cpu()),  # fp32, as pred
    "evaluate_ok": evaluate(model, t["x_test"], t["y_test"]) == int((pred == t["y_test"]).sum()) / len(pred),
    "density": density(new),
}
calls = []
publish = cache.publish
cache.publish = lambda *a, **k: calls.append(1) or publish(*a, **k)
entry = bp.build_set(setup, sys.argv[1])
mine.update(publish_calls=len(calls), entry=str(entry.path))
got = everywhere(mine)
if distributed.is_main():
    print("RESULT " + json.dumps(got), flush=True)
distributed.destroy()
# Leave without the interpreter's teardown: in the full suite, one rank of this script now
# and then aborted there ("terminate called without an active exception", gloo's threads)
# after every check had passed; not reproduced in isolation in 10 runs, under load either.
os._exit(0)
'''


def test_two_ranks_hold_identical_masks_and_weights_and_only_rank_0_writes(launched):
    tmp_path, _, proc = launched
    out = finish(proc)
    r0, r1 = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    for k in ("masks", "local_masks", "weights", "density", "entry"):
        assert r0[k] == r1[k], k
    assert 0.2 < r0["density"] < 0.3                                 # two rounds at 50 %
    assert all(r[k] for r in (r0, r1) for k in ("pruned_zero", "predict_ok", "evaluate_ok"))
    assert (r0["publish_calls"], r1["publish_calls"]) == (1, 0)
    assert [d.name for d in (tmp_path / "out" / "prac").iterdir()] == [Path(r0["entry"]).name]


def test_augment_draws_the_global_batch_and_keeps_the_rank_share(monkeypatch):
    x = torch.randn(7, 3, 8, 8)
    whole = augment(x, torch.Generator().manual_seed(3))
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    for r in (0, 1):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        assert torch.equal(augment(x[r::2], torch.Generator().manual_seed(3), len(x)), whole[r::2])


def test_without_torchrun_everything_is_one_process(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert not distributed.init_from_env() and not torch.distributed.is_initialized()
    idx = torch.arange(5)
    assert distributed.world_size() == 1 and distributed.is_main() and distributed.shard(idx) is idx
    assert distributed.gather_strided(idx, 5) is idx and distributed.main_says(True)
