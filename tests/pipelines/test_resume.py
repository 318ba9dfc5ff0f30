"""A run killed with SIGKILL again and again, each time resumed, ends bit for bit where an
uninterrupted run ends: the same PrAC set, dense weights, masks, ticket and metrics."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from prac.search.state import SearchState

KILL_AT = Path(__file__).with_name("kill_at.py")
ARGS = ["find-ticket", "-q", "--set", "train.epochs=4", "--set", "prune.rounds=2", "--set", "dataset.train_limit=600"]
# every figure except the clocks
TIMES = {"seconds", "created", "search_seconds", "round0_seconds", "dense_seconds", "retrain_seconds", "wall_seconds"}


def run(out, *pre, args=ARGS):
    env = {**os.environ, "PRAC_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}   # one thread: same float sums every run
    cmd = [sys.executable, *(map(str, pre) if pre else ["-m", "prac"]), *args, "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def kill(out, target, n, args=ARGS):
    res = run(out, KILL_AT, target, n, args=args)
    assert res.returncode == -signal.SIGKILL, f"not killed at {target} #{n}: {res.stderr[-500:]}"
    return res


def without_times(obj):
    if isinstance(obj, dict):
        return {k: without_times(v) for k, v in obj.items() if k not in TIMES}
    if isinstance(obj, list):
        return [without_times(v) for v in obj]
    return obj


def artifacts(root: Path) -> dict:
    """Every tensor and every JSON figure under ``root`` (clocks left out), by relative path."""
    found = {}
    for f in sorted(root.rglob("*")):
        rel = str(f.relative_to(root))
        if f.suffix == ".safetensors":
            found[rel] = load_file(str(f))
        elif f.suffix == ".json":
            found[rel] = without_times(json.loads(f.read_text()))
    return found


def assert_same(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for rel in a:
        if isinstance(a[rel], dict) and a[rel] and all(hasattr(v, "dtype") for v in a[rel].values()):
            assert sorted(a[rel]) == sorted(b[rel]), rel
            for k in a[rel]:
                assert a[rel][k].dtype == b[rel][k].dtype and (a[rel][k] == b[rel][k]).all(), f"{rel}:{k}"
        else:
            assert a[rel] == b[rel], rel


def test_killed_at_five_points_and_resumed_equals_uninterrupted(tmp_path):
    ref = tmp_path / "ref"
    res = run(ref)
    assert res.returncode == 0, res.stderr
    report = json.loads(next((ref / "runs").glob("*/report.json")).read_text())
    [rdir] = [d.name for d in (ref / "runs").iterdir()]

    out = tmp_path / "killed"
    ckpts = lambda: sorted(p.name for p in out.rglob("*checkpoint.safetensors"))  # noqa: E731
    # 1. mid-epoch: step 30 of the dense run (epoch 2 of 4, 19 steps each)
    kill(out, "torch.nn.functional:cross_entropy", 30)
    assert len(ckpts()) == 1                                  # the dense run's, after epoch 1
    # 2. mid-write: inside the 2nd checkpoint written after resuming, after fsync, before its rename
    kill(out, "os:replace", 2)
    # 3. mid-publish: the cache entry is half written in its private temporary folder
    kill(out, "os:replace", 3)
    assert not list((out / "prac").glob("*/meta.json"))     # nothing half-published
    # 4. between rounds: when round 2 starts pruning, after round 1's checkpoint (masks are
    # computed by the build's probe, round 1, then round 2: no reprobe before an untrained last round)
    kill(out, "prac.train.distributed:masks_on_main", 3)
    assert list((out / "prac").glob("*/meta.json")) and ckpts() == ["checkpoint.safetensors"]
    state = SearchState.load(out / "runs" / rdir / "checkpoint.safetensors")
    assert state.done == 1 and state.inflight is None
    # 5. mid-retrain: 30 losses into the ticket's full-data retrain, after round 2's steps and its
    # curve's validation points (one loss each: the validation split is one batch)
    r2 = report["rounds"][2]
    kill(out, "torch.nn.functional:cross_entropy", r2["steps"] + len(r2["curve"]) + 30)
    state = SearchState.load(out / "runs" / rdir / "checkpoint.safetensors")
    assert state.search_done and state.inflight.retraining == 2
    assert state.inflight.train["epoch"] == 1                   # the retrain's first epoch was saved
    # then --resume with the run folder, as a user would after a pre-emption
    res = run(out, args=["find-ticket", "-q", "--resume", str(out / "runs" / rdir)])
    assert res.returncode == 0, res.stderr
    assert "resuming run" in res.stderr
    assert ckpts() == []                                     # a finished run keeps no checkpoint
    assert_same(artifacts(ref), artifacts(out))



def test_sigterm_names_the_checkpoint_and_the_resume_command_and_report_lists_the_run(tmp_path):
    import time

    out = tmp_path / "a"
    env = {**os.environ, "PRAC_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    args = ["find-ticket", "-q", "--set", "train.epochs=30", "--set", "prune.rounds=30", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "prac", *args], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 240
    while not list(out.glob("runs/*/checkpoint.safetensors")) and time.time() < deadline:   # inside the search
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-500:]
    [rdir] = list((out / "runs").iterdir())
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted; its checkpoint is ") and f"prac find-ticket --resume {rdir}" in last
    listed = subprocess.run([sys.executable, "-m", "prac", "report", "--out", str(out)], capture_output=True,
                            text=True, env=env)
    assert f"unfinished: {rdir.name} (a checkpoint)" in listed.stdout


def test_killed_inside_a_search_rounds_budgets_and_resumed_equals_uninterrupted(tmp_path):
    """SIGKILL inside a fine-tuning round, twice: in the second epoch of its first budget, then
    in the second epoch of its extension budget; each resumed run continues that training
    where its checkpoint left it (Inflight), and the run ends bit for bit as an uninterrupted one.
    prune.rate=0.85 leaves round 1 short of the dense network after one budget (budgets of
    0.5 x 4 epochs = 2 epochs each, three of them); the set is built first, so the killed runs
    count only the search's losses."""
    sets = ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600", "prune.search_budget=0.5", "prune.rate=0.85"]
    flags = [a for s in sets for a in ("--set", s)]
    build, search = ["build-prac", "-q", *flags], ["find-ticket", "-q", *flags]
    batches, budget = 19, round(0.5 * 4 * 19)            # 600 samples at batch 32; a budget's steps, 2 epochs
    ref, out = tmp_path / "ref", tmp_path / "killed"
    for root in (ref, out):
        res = run(root, args=build)
        assert res.returncode == 0, res.stderr
    res = run(ref, args=search)
    assert res.returncode == 0, res.stderr
    report = json.loads(next((ref / "runs").glob("*/report.json")).read_text())
    assert report["rounds"][1]["chunks"] == 3 and report["rounds"][1]["steps"] == 3 * budget
    [rdir] = [d.name for d in (ref / "runs").iterdir()]
    ckpt = out / "runs" / rdir / "checkpoint.safetensors"

    # 1. the 10th step of the first budget's second epoch (round 0 is the set's: no loss before it)
    kill(out, "torch.nn.functional:cross_entropy", batches + 10, args=search)
    state = SearchState.load(ckpt)
    assert state.done == 0 and state.inflight is not None and state.inflight.round_masks is not None
    assert state.inflight.chunk == 0 and state.inflight.chunk_stats is None and state.inflight.train["epoch"] == 1
    # 2. resumed there: the budget's last epoch, its validation check (one loss: one batch), and
    # 10 steps into the second epoch of the extension budget
    res = kill(out, "torch.nn.functional:cross_entropy", batches + 1 + batches + 10, args=search)
    assert "resuming run" in res.stderr and "epoch 1 of the next training" in res.stderr
    state = SearchState.load(ckpt)
    assert state.done == 0 and state.inflight.chunk == 1 and state.inflight.train["epoch"] == 1
    assert state.inflight.chunk_stats["steps"] == budget and state.inflight.chunk_val is not None
    res = run(out, args=["find-ticket", "-q", "--resume", str(out / "runs" / rdir)])
    assert res.returncode == 0, res.stderr
    assert not ckpt.exists()
    assert_same(artifacts(ref), artifacts(out))
