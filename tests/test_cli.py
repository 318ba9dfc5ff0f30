"""The command line as a user meets it: real processes, exit codes, one-line errors."""

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import yaml

from prac.config.load import config_path, shipped_configs
from prac.config.show import _default
from prac.config.load import load_config, load_transfer
from prac.config.schema import describe_keys, to_dict
from prac.errors import PracError

REPO = Path(__file__).resolve().parents[1]

TINY = ["--set", "train.epochs=3", "--set", "prune.rounds=1", "--set", "dataset.train_limit=300", "-q"]


def prac(*args, cwd=None, env=None, stdin=subprocess.DEVNULL):
    env = {**os.environ, "PRAC_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "prac", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300, stdin=stdin)


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
            "for argv, code in ((['--help'], 0), (['find-ticket', '--help'], 0), (['cache', 'rm', '--help'], 0),\n"
            "                   (['--version'], 0), (['config', '--keys'], 0),\n"
            "                   (['config', '--config', 'fashion_mnist_lenet', '--set', 'train.lr=0.01'], 0),\n"
            "                   (['find-ticket', '--set', 'train.lr=-1'], 2), (['build-prac', '--set', 'x=1'], 2),\n"
            "                   (['bench', '--set', 'prune.rate=2'], 2), (['find-ticket', '-c', 'nosuch'], 2)):\n"
            "    sys.argv = ['prac', *argv]\n"
            "    try:\n"
            "        prac.cli.main()\n"
            "    except SystemExit as e:\n"
            "        assert e.code == code, (argv, e.code)\n"
            "    assert 'torch' not in sys.modules, f'prac {\" \".join(argv)} imported torch'\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=Path(__file__).parent)
    assert res.returncode == 0, res.stderr
    assert "select.threshold" in res.stdout and "  lr: 0.01 " in res.stdout


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


def test_version_prints_the_installed_version():
    res = prac("--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"prac {metadata.version('prac')}\n"


def test_help_shows_defaults_and_whole_paragraphs():
    wide = {"COLUMNS": "3000"}  # no wrapping by the terminal: what is left is the help's own line breaks
    res = prac("find-ticket", "--help", env=wide)
    assert res.returncode == 0, res.stderr
    for key, default, _ in describe_keys():  # every key with its default, as --set takes it
        assert f"{key}={_default(default)}" in res.stdout, key
    assert "[default: artifacts]" in res.stdout  # not eaten by rich markup
    # a docstring paragraph is one line, not broken where the source broke it
    assert any("--config / --set change it" in line and "bit for bit" in line for line in res.stdout.splitlines())
    export = prac("export", "--help", env=wide).stdout
    assert "--root is the artifact root" in export and "[default: artifacts]" in export


def flat(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_config_prints_the_resolved_config_as_yaml_that_loads_back(tmp_path):
    sets = ["train.lr=0.01", "model.widths=[64, 32]", "dataset.path='x: y #z'"]  # a value YAML must quote
    res = prac("config", "--config", "fashion_mnist_lenet", *(a for s in sets for a in ("--set", s)), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    loaded = yaml.safe_load(res.stdout)
    assert loaded == to_dict(load_config(shipped_configs()["fashion_mnist_lenet"], sets))
    assert loaded["dataset"]["path"] == "x: y #z"
    keys = [k for k, _, _ in describe_keys()]
    assert list(flat(loaded)) == keys  # every key, in order, grouped by section
    lines = res.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines)
    (lr,) = [line for line in lines if line.strip().startswith("lr:")]
    help_lr = {k: h for k, _, h in describe_keys()}["train.lr"]
    assert lr.strip().startswith("lr: 0.01 ") and "# default 0.0012" in lr and help_lr in lr
    (seed,) = [line for line in lines if line.startswith("seed:")]
    assert "default" not in seed  # unchanged: the help alone
    same = prac("config", "--set", "train.epochs=10").stdout  # the default, given as a float: no change to flag
    (epochs,) = [line for line in same.splitlines() if line.strip().startswith("epochs:")]
    assert "default" not in epochs
    listed = prac("config", "--keys")
    assert listed.returncode == 0 and listed.stdout.split("\n")[:-1] == keys


def test_shipped_configs_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = shipped_configs()
    assert sorted(shipped) == sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
    assert config_path("fashion_mnist_lenet") == config_path("fashion_mnist_lenet.yaml") == shipped["fashion_mnist_lenet"]
    assert load_config(config_path("fashion_mnist_lenet")).dataset.kind == "fashion_mnist"
    own = tmp_path / "fashion_mnist_lenet.yaml"  # a file in the working directory wins over the shipped name
    own.write_text("seed: 7\n")
    assert config_path("fashion_mnist_lenet.yaml") == Path("fashion_mnist_lenet.yaml") and config_path(own) == own
    source, target = load_transfer(config_path("transfer_fashion_lenet_conv2"))  # its two files, beside it
    assert (source.model.name, target.model.name) == ("lenet_300_100", "conv2")
    with pytest.raises(PracError, match="shipped: .*fashion_mnist_lenet"):
        config_path("fashion_mnist_lenett")
    res = prac("build-prac", "--config", "nosuch", cwd=tmp_path)
    assert_user_error(res, "'nosuch' is neither a file nor a shipped config", "digits_lenet, fashion_mnist_conv2")
    assert_user_error(prac("config", "-c", "transfer_fashion_lenet_conv2"), "is a transfer file",
                      "prac bench transfer")


def copy_of_set(root, tmp_path):
    key = next((root / "prac").iterdir()).name
    shutil.copytree(root / "prac" / key, tmp_path / "prac" / key)
    return key, tmp_path / "prac" / key


def test_cache_rm_asks_on_a_terminal_and_needs_yes_otherwise(root, tmp_path):
    import pty

    key, entry = copy_of_set(root, tmp_path)
    res = prac("cache", "rm", key[:8], "--out", tmp_path)  # stdin is not a terminal
    assert_user_error(res, "pass --yes to remove it without asking")
    assert entry.is_dir()

    def on_terminal(answer):
        leader, follower = pty.openpty()
        os.write(leader, answer)
        try:
            return prac("cache", "rm", key[:8], "--out", tmp_path, stdin=follower)
        finally:
            os.close(leader)
            os.close(follower)

    res = on_terminal(b"n\n")
    assert res.returncode == 1 and "nothing removed" in res.stdout and entry.is_dir()
    assert f"remove PrAC set {key[:16]}" in res.stdout  # the question names what it removes
    res = on_terminal(b"y\n")
    assert res.returncode == 0 and "removed" in res.stdout and not entry.exists()
    key, entry = copy_of_set(root, tmp_path)
    res = prac("cache", "rm", key[:8], "--out", tmp_path, "-y")
    assert res.returncode == 0 and not entry.exists()


def test_piped_output_is_one_line_per_message(root):
    """stderr and stdout to a pipe: messages are not hard-wrapped at 80 columns and carry no
    trailing spaces; cache show and report RUN keep a JSON config and report.md's lines whole."""
    env = {k: v for k, v in os.environ.items() if k not in ("PRAC_NO_PROGRESS", "COLUMNS")}
    key = next((root / "prac").iterdir()).name
    res = subprocess.run([sys.executable, "-m", "prac", "find-ticket", "--prac", key[:10], "--out", str(root),
                          "--set", "prune.rounds=2"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert lines and all(line == line.rstrip() for line in lines)
    assert max(map(len, lines)) > 80  # a wrapped message would be cut at 80 columns
    show = subprocess.run([sys.executable, "-m", "prac", "cache", "show", key[:8], "--out", str(root)],
                          capture_output=True, text=True, env=env)
    (config,) = [line for line in show.stdout.splitlines() if line.startswith("  config: ")]
    assert json.loads(config[len("  config: "):])["train"]["epochs"] == 3
    run = next(d for d in (root / "runs").iterdir() if (d / "report.json").is_file())
    shown = subprocess.run([sys.executable, "-m", "prac", "report", run.name, "--out", str(root)],
                           capture_output=True, text=True, env=env)
    md = [line for line in (run / "report.md").read_text().splitlines() if line.strip()]
    assert [line for line in shown.stdout.splitlines() if line.strip()] == md


def test_a_set_cached_by_an_older_prac_is_refused_by_name_before_its_config_is_read(root, tmp_path):
    """An older set's config holds keys this prac removed: reading it said 'prune.search_pace was
    removed ... drop it', which the user cannot do to a cached set. Its build version says why."""
    old = tmp_path / "old"
    shutil.copytree(root / "prac", old / "prac")
    meta_file = next((old / "prac").glob("*/meta.json"))
    meta = json.loads(meta_file.read_text())
    meta.pop("build_version")
    meta["config"]["prune"]["search_pace"] = "fixed"
    meta_file.write_text(json.dumps(meta))
    key = meta_file.parent.name
    for how in (key[:10], meta_file.parent):
        res = prac("find-ticket", "--prac", how, "--out", old, "-q")
        assert_user_error(res, f"PrAC set {key[:12]} was built by an older prac", f"prac cache rm {key[:12]}")
    import prac as api

    with pytest.raises(PracError, match="built by an older prac"):
        api.find_ticket(prac_set=key, out=old)
