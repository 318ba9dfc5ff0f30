"""The command line as a user meets it: real processes, exit codes, one-line errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

TINY = ["--set", "train.epochs=3", "--set", "prune.rounds=1", "--set", "dataset.train_limit=300", "-q"]


def prac(*args, cwd=None):
    env = {**os.environ, "PRAC_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "prac", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def assert_user_error(res, *words):
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [l for l in res.stderr.strip().splitlines() if l.strip()]
    assert lines[-1].startswith("error: "), res.stderr
    for w in words:
        assert w in lines[-1], lines[-1]


def test_help_lists_commands_and_keys():
    res = prac("--help")
    assert res.returncode == 0
    for cmd in ("build-prac", "find-ticket", "cache", "report", "bench"):
        assert cmd in res.stdout
    res = prac("find-ticket", "--help")
    assert res.returncode == 0 and "--prac" in res.stdout and "select.threshold" in res.stdout


def test_help_does_not_import_torch():
    """torch takes 1.5-3 s to import: `prac --help` (and a command's --help) must not wait for
    it, so neither prac.cli nor main() outside torchrun imports it."""
    code = ("import sys, prac.cli\n"
            "assert 'torch' not in sys.modules, 'import prac.cli imported torch'\n"
            "for argv in (['--help'], ['find-ticket', '--help'], ['cache', 'rm', '--help']):\n"
            "    sys.argv = ['prac', *argv]\n"
            "    try:\n"
            "        prac.cli.main()\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0, e.code\n"
            "    assert 'torch' not in sys.modules, f'prac {\" \".join(argv)} imported torch'\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "select.threshold" in res.stdout


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("art")
    res = prac("build-prac", "--out", root, *TINY)
    assert res.returncode == 0, res.stderr
    return root


def test_build_then_find_by_key_prefix_then_inspect(root):
    key = next((root / "prac").iterdir()).name
    res = prac("find-ticket", "--prac", key[:10], "--out", root, "-q")
    assert res.returncode == 0, res.stderr
    assert "iteration savings" in res.stdout
    ls = prac("cache", "ls", "--out", root)
    assert key[:16] in ls.stdout
    show = prac("cache", "show", key[:8], "--out", root)
    assert "composition" in show.stdout and "hard-to-memorize" in show.stdout
    rep = prac("report", "--out", root)
    assert "lenet_300_100" in rep.stdout


def npz(path, **over):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((50, 6)), "y_train": rng.integers(0, 3, 50),
              "x_test": rng.random((20, 6)), "y_test": rng.integers(0, 3, 20)}
    arrays.update(over)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("name,args,words", [
    ("unknown key", ["--set", "train.lrr=1"], ["unknown config key 'train.lrr'"]),
    ("wrong type", ["--set", "train.epochs=many"], ["train.epochs='many'"]),
    ("rate out of range", ["--set", "prune.rate=1.2"], ["prune.rate=1.2"]),
    ("missing data dir", ["--set", "dataset.kind=fashion_mnist", "--set", "dataset.path=/nonexistent/fm"],
     ["/nonexistent/fm"]),
    ("unknown model", ["--set", "model.name=transformer"], ["transformer"]),
    ("missing config", ["--config", "/nonexistent.yaml"], ["does not exist"]),
])
def test_bad_input_is_one_line(tmp_path, name, args, words):
    assert_user_error(prac("build-prac", "--out", tmp_path, *args), *words)
    assert not (tmp_path / "prac").exists() or not any((tmp_path / "prac").iterdir())


def test_bad_npz_and_model_that_does_not_fit(tmp_path):
    bad = npz(tmp_path / "bad.npz", y_train=np.arange(49))
    assert_user_error(prac("build-prac", "--out", tmp_path, "--set", "dataset.kind=npz",
                           "--set", f"dataset.path={bad}"), "bad.npz")
    good = npz(tmp_path / "good.npz")
    assert_user_error(prac("build-prac", "--out", tmp_path, "--set", "dataset.kind=npz",
                           "--set", f"dataset.path={good}", "--set", "model.name=conv2"), "conv2")


def test_unknown_key_and_path_escape_and_mismatched_data(root, tmp_path):
    assert_user_error(prac("find-ticket", "--prac", "deadbeef", "--out", root), "no PrAC set")
    assert_user_error(prac("find-ticket", "--prac", "../../etc", "--out", root), "neither a PrAC key")
    key = next((root / "prac").iterdir()).name
    before = sorted(p.name for p in (root / "runs").iterdir()) if (root / "runs").exists() else []
    assert_user_error(prac("find-ticket", "--prac", key, "--out", root, "--set", "dataset.train_limit=200"),
                      "fingerprint")
    after = sorted(p.name for p in (root / "runs").iterdir()) if (root / "runs").exists() else []
    assert before == after


def test_unwritable_output_root(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_user_error(prac("build-prac", "--out", blocker / "sub", *TINY))
