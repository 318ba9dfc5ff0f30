"""Issue 5's battery: one table of bad inputs across config, data, cache and the command line.

Every case must end in ONE line on stderr, ``error: <what is wrong>; <what to do>``, exit
status 2, no traceback, and must leave every earlier artifact as it was: a tiny PrAC set
and a finished run are built once per module, and every file under that root (and under the
case's own folder) is hashed before and after each case. New files count as damage too,
unless the case names them (a stray temporary file is a new file).

The CLI runs in-process (``prac.cli.main`` with ``sys.argv`` patched): a subprocess costs
seconds of torch import per case. Cases marked ``proc`` run as real processes, to check
the exit status and stderr that a shell sees.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
import torch

from prac import cli

TINY = ["--set", "train.epochs=3", "--set", "prune.rounds=1", "--set", "dataset.train_limit=300", "-q"]
AS_ROOT = os.geteuid() == 0  # root ignores file permissions
# a build that fails after training keeps its dense run's checkpoint (for resuming), even when
# the failure is not one that a retry could get past, like an empty PrAC set


def run_main(argv, monkeypatch) -> int:
    monkeypatch.setattr(sys, "argv", ["prac", *map(str, argv)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    return exc.value.code


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    """The artifact root of every case: one PrAC set, one finished run, and a look-alike
    copy of the set whose key shares the first 4 characters (for the ambiguous prefix)."""
    root = tmp_path_factory.mktemp("artifacts")
    with pytest.MonkeyPatch.context() as mp:
        assert run_main(["find-ticket", "--out", root, *TINY], mp) == 0
    (entry,) = [d for d in (root / "prac").iterdir() if d.is_dir()]
    key = entry.name
    twin = key[:4] + ("0" if key[4] != "0" else "1") + key[5:]
    shutil.copytree(entry, root / "prac" / twin)
    assert any((root / "runs").glob("*/report.json"))
    return SimpleNamespace(root=root, key=key)


def snapshot(**dirs: Path) -> dict[str, str]:
    """'label/relative/path' -> sha256 (files) or 'dir', for every path under each folder."""
    out = {}
    for label, base in dirs.items():
        for p in sorted(base.rglob("*")):
            name = f"{label}/{p.relative_to(base)}"
            if p.is_dir():
                out[name] = "dir"
            else:
                try:
                    out[name] = hashlib.sha256(p.read_bytes()).hexdigest()
                except PermissionError:  # the unreadable-file case's own input
                    out[name] = "unreadable"
    return out


# ------------------------------------------------------------------ inputs the cases write

def npz(name: str, **over):
    """A small npz of flat features (50 train, 20 test, 3 classes); ``key=None`` leaves a key out."""
    def setup(c):
        rng = np.random.default_rng(0)
        arrays = {"x_train": rng.random((50, 6)), "y_train": np.arange(50) % 3,
                  "x_test": rng.random((20, 6)), "y_test": np.arange(20) % 3, **over}
        np.savez(c.tmp / name, **{k: v for k, v in arrays.items() if v is not None})
    return setup


def truncated_npz(c):
    npz("whole.npz")(c)
    data = (c.tmp / "whole.npz").read_bytes()
    (c.tmp / "cut.npz").write_bytes(data[: len(data) // 2])


def idx_bytes(a: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes()


def mnist_dir(cut: int = 0, top_label: int = 9):
    """The four MNIST IDX files (40 train, 20 test images); ``cut`` bytes off the train images."""
    def setup(c):
        rng = np.random.default_rng(0)
        files = {"train-images-idx3-ubyte": rng.integers(0, 256, (40, 28, 28)),
                 "train-labels-idx1-ubyte": np.arange(40) % (top_label + 1),
                 "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)),
                 "t10k-labels-idx1-ubyte": np.arange(20) % 10}
        (c.tmp / "mnist").mkdir()
        for name, a in files.items():
            data = idx_bytes(a)
            (c.tmp / "mnist" / name).write_bytes(data[: len(data) - cut] if name.startswith("train-images") else data)
    return setup


def text(name: str, content: str | bytes):
    def setup(c):
        (c.tmp / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return setup


def unreadable(c):
    if AS_ROOT:
        pytest.skip("root reads any file; the data-path-is-a-directory case covers an unusable path")
    npz("locked.npz")(c)
    (c.tmp / "locked.npz").chmod(0)


def unwritable_out(c):
    """An --out nobody can create: a read-only folder, or (as root) a path under a plain file."""
    if AS_ROOT:
        (c.tmp / "a-file").write_text("not a folder")
        return ["--out", c.tmp / "a-file" / "art"]
    (c.tmp / "ro").mkdir(0o500)
    c.finally_(lambda: (c.tmp / "ro").chmod(0o700))
    return ["--out", c.tmp / "ro" / "art"]


def corrupt_copy(c):
    """A copy of the module's PrAC set (in the case's folder) with one byte of its statistics flipped."""
    copy = c.tmp / "prac" / c.key
    shutil.copytree(c.root / "prac" / c.key, copy)
    data = bytearray((copy / "stats.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "stats.safetensors").write_bytes(bytes(data))


def empty_prac_set(c):
    """Nothing forgotten, never learned or flipped: hard to reach on real data in a test, so
    the selection is made to come back empty."""
    import prac.select.build

    c.monkeypatch.setattr(prac.select.build, "prac_indices", lambda *a, **k: torch.empty(0, dtype=torch.long))


def disk_full(c):
    """Every artifact write dies as on a full disk: at fsync, after the bytes went to the temporary file."""
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    c.monkeypatch.setattr(os, "fsync", fsync)


# ------------------------------------------------------------------ the table

@dataclass
class Case:
    argv: list  # '{root}', '{tmp}', '{key}' and '{key4}' are filled in; --out {root} is appended
    problem: str  # must appear before the '; '
    fix: str  # must appear after it
    setup: Callable | None = None  # writes inputs into the case's folder; may return extra argv
    out: bool = True
    may_create: tuple = ()  # globs ('tmp/runs/*') of what the failing command may leave, by design
    proc: bool = False  # run as a real process


def case(id, *argv, problem, fix, **kw):
    return pytest.param(Case(list(argv), problem, fix, **kw), id=id)


CASES = [
    # config: keys, types, ranges, --set syntax, YAML files
    case("unknown-key", "build-prac", "--set", "train.lrr=0.1", problem="unknown config key 'train.lrr'",
         fix="did you mean 'train.lr'?"),
    case("mistyped-section", "build-prac", "--set", "trian.epochs=3", problem="unknown config key 'trian'",
         fix="did you mean 'train'?"),
    case("wrong-type", "build-prac", "--set", "train.epochs=many", problem="train.epochs='many' has the wrong type",
         fix="expected float"),
    case("section-not-a-mapping", "build-prac", "--set", "train=5",
         problem="config section 'train' must be a mapping", fix="--set train.KEY=VALUE"),
    case("nan-epochs", "build-prac", "--set", "train.epochs=.nan", problem="train.epochs=nan is not a finite number",
         fix="ordinary number"),
    case("negative-epochs", "build-prac", "--set", "train.epochs=-1", problem="train.epochs=-1.0 must be positive",
         fix="train.epochs=10"),
    case("batch-size-0", "build-prac", "--set", "train.batch_size=0", problem="train.batch_size=0 must be at least 1",
         fix="train.batch_size=32"),
    case("prune-rate-out-of-range", "build-prac", "--set", "prune.rate=1.2",
         problem="prune.rate=1.2 must be a fraction in (0, 1)", fix="e.g. 0.2"),
    case("target-density-out-of-range", "build-prac", "--set", "prune.target_density=1.5",
         problem="prune.target_density=1.5 must be a fraction", fix="e.g. 0.05"),
    case("rounds-0", "build-prac", "--set", "prune.rounds=0", problem="prune.rounds=0 must be at least 1",
         fix="prune.rounds=13"),
    # numbers past what float32 (the weights, the optimizer) or a run can take: an overflow deep in
    # torch's optimizer or the step count, with a traceback, unless the config check refuses them
    case("lr-overflows-float32", "build-prac", "--set", "train.lr=1e308", problem="train.lr=1e+308 is above 1e+37",
         fix="train.lr=0.001"),
    case("lr-overflows-float32-find-ticket", "find-ticket", "--set", "train.lr=1e308",
         problem="train.lr=1e+308 is above 1e+37", fix="train.lr=0.001"),
    case("removed-key", "find-ticket", "--set", "prune.search_lr=1e-3",
         problem="prune.search_lr was removed in prac 0.2", fix="constant of the search policy"),
    case("width-overflows", "build-prac", "--set", "model.name=conv2", "--set", "model.width=1e308",
         problem="model.width=1e+308 must be a positive channel multiplier up to 64", fix="e.g. 0.25"),
    case("model-too-large-for-memory", "build-prac", "--set", "model.name=mlp", "--set", "model.widths=[10000000,100000]",
         problem="does not fit in memory", fix="choose a smaller model.width or model.widths"),
    case("oneshot-without-target", "build-prac", "--set", "prune.schedule=oneshot",
         problem="prune.schedule=oneshot prunes straight to prune.target_density", fix="set prune.target_density"),
    case("validate-unknown", "find-ticket", "--set", "prune.validate=best",
         problem="prune.validate 'best' is unknown", fix="use last or bisect"),
    case("momentum-too-large", "build-prac", "--set", "train.optimizer=sgd", "--set", "train.momentum=1e308",
         problem="train.momentum=1e+308 must be a fraction in [0, 1)", fix="e.g. 0.9"),
    case("momentum-negative", "build-prac", "--set", "train.optimizer=sgd", "--set", "train.momentum=-1",
         problem="train.momentum=-1 must be a fraction in [0, 1)", fix="e.g. 0.9"),
    case("weight-decay-too-large", "build-prac", "--set", "train.weight_decay=1e308",
         problem="train.weight_decay=1e+308 must be in [0, 1)", fix="e.g. 1e-4"),
    case("weight-decay-negative", "build-prac", "--set", "train.weight_decay=-1",
         problem="train.weight_decay=-1 must be in [0, 1)", fix="e.g. 1e-4"),
    case("budget-beyond-a-round", "find-ticket", "--set", "prune.search_budget=2",
         problem="prune.search_budget=2.0 must be a fraction in (0, 1]", fix="e.g. 0.02"),
    case("epochs-overflow-steps", "build-prac", "--set", "train.epochs=1e308",
         problem="train.epochs=1e+308 is more than 1e+06 epochs", fix="train.epochs=10"),
    case("unknown-selector", "find-ticket", "--set", "select.method=hardest",
         problem="select.method 'hardest' is unknown", fix="use one of prac, random, full"),
    case("seed-out-of-range", "build-prac", "--set", "seed=100000000000000000000000",
         problem="seed=100000000000000000000000 is out of range", fix="from 0 to 4294967295"),
    case("split-seed-negative", "build-prac", "--set", "dataset.split_seed=-1",
         problem="dataset.split_seed=-1 is out of range", fix="from 0 to 4294967295"),
    case("unknown-dataset-kind", "build-prac", "--set", "dataset.kind=imagenet",
         problem="dataset.kind 'imagenet' is unknown", fix="use one of: digits"),
    case("set-without-equals", "build-prac", "--set", "train.lr", problem="--set 'train.lr' is not of the form key=value",
         fix="--set train.lr=0.01"),
    case("yaml-not-a-mapping", "build-prac", "--config", "{tmp}/list.yaml", setup=text("list.yaml", "- 1\n- 2\n"),
         problem="must hold a mapping of keys to values, not a list", fix="'key: value' per line"),
    case("yaml-python-tag", "build-prac", "--config", "{tmp}/evil.yaml",
         setup=text("evil.yaml", "seed: !!python/object/apply:os.system ['touch pwned']\n"),
         problem="uses a YAML tag that prac does not load at line 1", fix="plain values", proc=True),
    case("yaml-syntax", "build-prac", "--config", "{tmp}/broken.yaml", setup=text("broken.yaml", "train: {epochs: 3\n"),
         problem="is not valid YAML at line 2", fix="fix its syntax"),
    case("yaml-binary", "build-prac", "--config", "{tmp}/bin.yaml", setup=text("bin.yaml", b"\xff\xfe\x00seed: 1\n"),
         problem="is not UTF-8 text", fix="pass a YAML file"),
    case("config-is-a-directory", "build-prac", "--config", "{tmp}", problem="is a directory", fix="pass a YAML file"),
    case("config-missing", "build-prac", "--config", "{tmp}/nope.yaml", problem="nope.yaml does not exist",
         fix="pass an existing YAML file"),
    # models
    case("unknown-model", "build-prac", *TINY, "--set", "model.name=transformer", problem="unknown model 'transformer'",
         fix="use one of: lenet_300_100"),
    case("model-does-not-fit-data", "build-prac", "--set", "dataset.kind=npz", "--set", "dataset.path={tmp}/f.npz",
         "--set", "model.name=conv2", *TINY, setup=npz("f.npz"), problem="conv2 needs image input",
         fix="use model lenet_300_100 or mlp"),
    # data
    case("data-dir-missing", "build-prac", "--set", "dataset.kind=mnist", "--set", "dataset.path={tmp}/nowhere",
         problem="nowhere does not exist", fix="set dataset.path"),
    case("data-path-is-a-directory", "build-prac", "--set", "dataset.kind=npz", "--set", "dataset.path={tmp}",
         problem="is a directory", fix="the .npz file itself"),
    case("data-file-unreadable", "build-prac", "--set", "dataset.kind=npz", "--set", "dataset.path={tmp}/locked.npz",
         setup=unreadable, problem="is not readable (permission denied)", fix="make it readable"),
    case("idx-truncated", "build-prac", "--set", "dataset.kind=mnist", "--set", "dataset.path={tmp}/mnist",
         setup=mnist_dir(cut=100), problem="train-images-idx3-ubyte is truncated", fix="download it again"),
    case("idx-label-out-of-range", "build-prac", "--set", "dataset.kind=mnist", "--set", "dataset.path={tmp}/mnist",
         setup=mnist_dir(top_label=12), problem="label 12 is out of range for 10 classes", fix="[0, 10)"),
    case("npz-truncated", "build-prac", "--set", "dataset.kind=npz", "--set", "dataset.path={tmp}/cut.npz",
         setup=truncated_npz, problem="is damaged or truncated", fix="save or copy it again"),
    case("npz-mismatched-lengths", "build-prac", "--set", "dataset.kind=npz", "--set", "dataset.path={tmp}/f.npz",
         setup=npz("f.npz", y_train=np.arange(49) % 3), problem="x_train has 50 samples but y_train has 49",
         fix="same length"),
    case("npz-negative-labels", "build-prac", "--set", "dataset.kind=npz", "--set", "dataset.path={tmp}/f.npz",
         setup=npz("f.npz", y_test=-np.ones(20, dtype=int)), problem="found -1 in y_test", fix="class indices"),
    case("npz-missing-key", "build-prac", "--set", "dataset.kind=npz", "--set", "dataset.path={tmp}/f.npz",
         setup=npz("f.npz", y_test=None), problem="missing y_test", fix="save x_train, y_train, x_test, y_test"),
    case("npz-3d-labels", "build-prac", "--set", "dataset.kind=npz", "--set", "dataset.path={tmp}/f.npz",
         setup=npz("f.npz", y_train=np.zeros((50, 2, 2), dtype=int)), problem="y_train must be a 1-D array of labels",
         fix="one integer per sample"),
    case("npz-without-path", "build-prac", "--set", "dataset.kind=npz", problem="dataset.kind=npz needs a file",
         fix="set dataset.path"),
    case("hf-without-source", "build-prac", "--set", "dataset.kind=hf", problem="dataset.kind=hf needs a source",
         fix="set dataset.path to a Hugging Face dataset name"),
    case("val-size-takes-everything", "build-prac", "--set", "dataset.val_size=5000",
         problem="leaves no training data", fix="smaller fraction or count"),
    # digits: 1,437 samples in the train split, 10 classes; not "the PrAC set is empty" after a dense run
    case("val-size-leaves-one-sample", "build-prac", *TINY, "--set", "dataset.val_size=1436",
         problem="dataset.val_size=1436 leaves 1 training sample of 1437, and the training split needs at least 10",
         fix="smaller dataset.val_size"),
    case("val-size-leaves-two-samples", "build-prac", *TINY, "--set", "dataset.val_size=1435",
         problem="leaves 2 training samples of 1437", fix="smaller dataset.val_size"),
    case("npz-single-class", "build-prac", "--set", "dataset.kind=npz", "--set", "dataset.path={tmp}/f.npz", *TINY,
         setup=npz("f.npz", y_train=np.zeros(50, dtype=int), y_test=np.zeros(20, dtype=int)),
         problem="y_train holds a single class (label 0), and a classifier needs at least two",
         fix="two or more classes"),
    case("train-limit-too-small", "build-prac", "--set", "dataset.train_limit=5",
         problem="dataset.train_limit=5 is too small", fix="at least 10"),
    # cache and artifacts
    case("empty-prac-set", "build-prac", *TINY, "--set", "seed=2", setup=empty_prac_set,
         problem="the PrAC set is empty", fix="lower select.threshold"),
    case("prac-key-of-other-data", "find-ticket", "--prac", "{key}", "--set", "dataset.kind=npz",
         "--set", "dataset.path={tmp}/f.npz", "-q", setup=npz("f.npz"),
         problem="was built on data with fingerprint", fix="build a PrAC set for this data"),
    case("unknown-key-prefix", "find-ticket", "--prac", "deadbeef", problem="no PrAC set with key 'deadbeef'",
         fix="prac build-prac"),
    case("ambiguous-key-prefix", "cache", "show", "{key4}", problem="matches 2 PrAC sets", fix="more characters"),
    case("key-prefix-too-short", "cache", "show", "abc", problem="key prefix 'abc' is too short",
         fix="at least 4 characters"),
    case("key-with-dotdot", "find-ticket", "--prac", "../../etc", problem="neither a PrAC key",
         fix="prac cache ls"),
    case("run-name-with-dotdot", "report", "../../etc", problem="run name '../../etc' is not valid", fix="no '..'"),
    case("unknown-run", "report", "zzz", problem="no finished runs match 'zzz'", fix="see `prac report`"),
    case("corrupt-cached-file", "find-ticket", "--prac", "{tmp}/prac/{key}", "--set", "prune.rounds=2", "-q",
         "--out", "{tmp}", out=False, setup=corrupt_copy,
         problem="stats.safetensors is corrupt (checksum mismatch)", fix="rebuild it"),
    case("cache-rm-missing-key", "cache", "rm", "deadbeef", problem="no PrAC set with key 'deadbeef'",
         fix="prac cache ls"),
    case("unwritable-out", "build-prac", *TINY, out=False, setup=unwritable_out, problem="cannot access",
         fix="choose another --out"),
    case("disk-full", "build-prac", *TINY, "--set", "seed=1", setup=disk_full,
         problem=": the disk is full", fix="free some space"),
    # command line
    case("eval-rounds-garbage", "bench", "--eval-rounds", "4,x", problem="--eval-rounds '4,x' must be round numbers",
         fix="4,8,11,13"),
    case("eval-rounds-out-of-range", "bench", "--eval-rounds", "4,99",
         problem="names rounds 99 that the search does not have", fix="from 1 to prune.rounds=13"),
    case("unknown-bench-method", "bench", "--methods", "full,magic", problem="unknown methods ['magic']",
         fix="choose from full, prac"),
    case("unknown-benchmark", "bench", "sped", problem="unknown benchmark 'sped'", fix="use tickets"),
    case("seeds-0", "bench", "--seeds", "0", problem="Invalid value for '--seeds'", fix="prac bench --help"),
    case("unknown-option", "build-prac", "--sett", "seed=1", problem="No such option: --sett",
         fix="prac build-prac --help"),
]


@pytest.mark.parametrize("c", CASES)
def test_bad_input_is_one_line_and_harmless(c: Case, art, tmp_path, monkeypatch, capsys, request):
    ctx = SimpleNamespace(tmp=tmp_path, root=art.root, key=art.key, monkeypatch=monkeypatch,
                          finally_=request.addfinalizer)
    extra = (c.setup(ctx) if c.setup else None) or []
    fill = dict(root=art.root, tmp=tmp_path, key=art.key, key4=art.key[:4])
    argv = [str(a).format(**fill) for a in c.argv] + [str(a) for a in extra]
    if c.out:
        argv += ["--out", str(art.root)]
    before = snapshot(root=art.root, tmp=tmp_path)

    if c.proc:
        res = subprocess.run([sys.executable, "-m", "prac", *argv], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PRAC_NO_PROGRESS": "1"})
        code, err = res.returncode, res.stderr
    else:
        code, err = run_main(argv, monkeypatch), capsys.readouterr().err

    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), err
    assert sum(line.startswith("error") for line in lines) == 1, err  # the message is one line, once
    problem, sep, fix = lines[-1][len("error: "):].partition("; ")
    assert sep, f"no '; <fix>' in: {lines[-1]}"
    assert c.problem in problem, lines[-1]
    assert c.fix in fix, lines[-1]

    after = snapshot(root=art.root, tmp=tmp_path)
    damaged = {p for p in before if after.get(p) != before[p]}
    assert not damaged, f"earlier artifacts changed or vanished: {sorted(damaged)}"
    new = {p for p in after if p not in before and not any(fnmatch.fnmatch(p, g) for g in c.may_create)}
    assert not new, f"left behind: {sorted(new)}"
