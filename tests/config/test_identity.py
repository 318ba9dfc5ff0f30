"""A run's identity from one declaration: every key's role changes exactly the names it should,
and each stage's version is tied to what it computes by a golden digest."""

import dataclasses
import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import prac
from prac.config import identity
from prac.config.load import load_config
from prac.config.schema import Config, describe_keys
from prac.search.loop import run_name
from prac.search.policies import POLICIES, Policy
from prac.select.selectors import SELECTORS
from prac.config.schema import SEARCHES, SELECTORS as SELECTOR_NAMES

# A valid value other than the default for every key whose type alone does not give one.
OTHER = {"dataset.kind": "fashion_mnist", "dataset.path": "/somewhere", "model.name": "conv2",
         "train.optimizer": "sgd", "train.schedule": "cosine", "train.milestones": [0.5], "train.precision": "bf16",
         "train.eval_every": 7, "prune.rate": 0.3, "prune.output_rate": 0.05, "prune.conv_rate": 0.1,
         "prune.target_density": 0.5, "prune.schedule": "iterative", "prune.scope": "global",
         "prune.search": "imp", "prune.validate": "bisect", "select.method": "random", "select.learned_mse": 0.01,
         "dataset.val_size": 0.2, "dataset.train_limit": 100, "dataset.label_noise": 0.1, "dataset.imbalance": 10.0,
         "model.widths": [10], "dataset.name": "x/y", "dataset.cache_dir": "/c", "train.warmup": 0.1, "train.momentum": 0.5, "train.weight_decay": 1e-4}


def other(key: str, default):
    if key in OTHER:
        return OTHER[key]
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1
    return default * 0.5


def fields():
    """(dotted key, its dataclass field) for every settable key."""
    out = []
    for group in dataclasses.fields(Config):
        if dataclasses.is_dataclass(group.default_factory if group.default_factory is not dataclasses.MISSING else 0):
            out += [(f"{group.name}.{f.name}", f) for f in dataclasses.fields(group.default_factory)]
        else:
            out.append((group.name, group))
    return out


def test_every_key_declares_one_role_and_the_registries_match_the_checks():
    assert len(describe_keys()) <= 40
    for key, f in fields():
        assert identity.role(f) in identity.ROLES, key
        if not key.startswith("dataset."):  # the dataset group enters through the data's fingerprint
            assert "role" in f.metadata, f"{key} declares no role"
    assert set(POLICIES) == set(SEARCHES) and set(SELECTORS) == set(SELECTOR_NAMES)


@pytest.mark.parametrize("key", [k for k, _, _ in describe_keys() if k != "prune.schedule"])  # oneshot needs more
def test_each_key_changes_exactly_the_names_its_role_says(key):
    # a target density sets the probe's rate when prune.rate is unset (the test above): fix the rate
    fixed = {"prune.rate": 0.2} if key == "prune.target_density" else {}
    base = load_config(None, values=fixed)
    default = dict((k, d) for k, d, _ in describe_keys())[key]
    value = other(key, eval(default))  # describe_keys gives repr()s of plain values
    changed = load_config(None, values={**fixed, key: value})
    f = dict(fields())[key]
    set_a, set_b = (identity.set_key(c, "fp", "model") for c in (base, changed))
    run_a, run_b = (identity.run_key(c, set_a, "model", {}) for c in (base, changed))
    role = identity.role(f)
    if role in ("dense", "set"):
        assert set_a != set_b, f"{key} ({role}) must change the set key"
    else:
        assert set_a == set_b, f"{key} ({role}) must not change the set key"
    if role in ("dense", "search"):
        assert run_a != run_b, f"{key} ({role}) must change the run name"
    if role == "data":
        assert run_a == run_b, f"{key} enters through the data's fingerprint, not the names"


@pytest.mark.parametrize("setting", [f.name for f in dataclasses.fields(Policy) if f.name != "name"])
def test_a_search_policys_settings_are_part_of_a_runs_name(setting, monkeypatch):
    """A policy's settings are code (prac.search.policies), not keys: an edited policy (an
    ablation, or the criterion SEARCH_VERSION 14 changed, which the golden digest below cannot
    see) must not be served the shipped policy's cached runs."""
    setup = SimpleNamespace(cfg=load_config(None), model=SimpleNamespace(name="lenet", id="m"))
    shipped = POLICIES["finetune"]
    before = run_name(setup, "k" * 64)
    value = getattr(shipped, setting)
    edited = {bool: lambda v: not v, str: lambda v: v + "x", type(None): lambda v: 1.0}.get(type(value), lambda v: v + 1)
    monkeypatch.setitem(POLICIES, "finetune", dataclasses.replace(shipped, **{setting: edited(value)}))
    assert run_name(setup, "k" * 64) != before


def test_the_probe_rate_is_named_as_the_probe_runs_it():
    """prune.rate unset prunes 1 - T^(1/n) with a target density: the set key follows the rate
    the probe uses, so a set built for 13 rounds is refused for 18."""
    a = load_config(None, values={"prune.target_density": 0.05, "prune.rounds": 13})
    b = load_config(None, values={"prune.target_density": 0.05, "prune.rounds": 18})
    assert identity.set_key(a, "fp", "m") != identity.set_key(b, "fp", "m")
    assert "cannot honour" in identity.reuse_problem(a, b, same_architecture=False, key="ab" * 32)


def test_the_reuse_check_compares_set_keys_always_and_dense_keys_for_the_same_architecture():
    built = load_config(None)
    other_seed = load_config(None, values={"seed": 3})
    assert identity.reuse_problem(built, other_seed, same_architecture=False, key="k" * 64) is None
    assert "seed" in identity.reuse_problem(built, other_seed, same_architecture=True, key="k" * 64)
    search_only = load_config(None, values={"prune.rounds": 5, "select.method": "random"})
    assert identity.reuse_problem(built, search_only, same_architecture=True, key="k" * 64) is None


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.e = nn.Linear(64, 32)
        self.out = nn.Linear(32, 10)

    def forward(self, x):
        return self.out(torch.relu(self.e(x.flatten(1))))


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x, y = d.data[:500].astype(np.float32), d.target[:500]
    return x[:400], y[:400], x[400:], y[400:]


def test_prunable_names_are_part_of_a_runs_identity(digits, tmp_path):
    """Issue 30: a second find_ticket with prunable= used to return the first run's masks."""
    tiny = {"train__epochs": 2, "prune__rounds": 2}
    plain = prac.find_ticket(Net, *digits, out=tmp_path, **tiny)
    only_e = prac.find_ticket(Net, *digits, out=tmp_path, prunable=["e.weight"], **tiny)
    assert plain.run_dir != only_e.run_dir
    assert set(plain.masks) == {"e.weight", "out.weight"} and set(only_e.masks) == {"e.weight"}


def _digest(tensors: dict) -> str:
    """A digest of ``tensors``; float statistics (EL2N, label probabilities) rounded to 0.01, so
    that the last bits a CPU's vector width moves do not move it, while a changed rule does."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().cpu()
        if t.is_floating_point():
            t = torch.round(t.double() * 100).to(torch.int64)
        h.update(k.encode() + t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# What a tiny fixed build and search compute, per stage version. A change to the build or the
# search that moves these must bump BUILD_VERSION or SEARCH_VERSION in prac/config/identity.py
# (so no cached set or run from before is served as the new code's) and record the new digest
# here. Float sums depend on the CPU's vector width: these are the 2-core CI machine's. The run
# is pinned to fp32 (train.precision): under auto the probe predicts in bf16 on a CPU that
# computes it natively (prac.train.fastpath.probe_dtype), and CI machines differ in that.
GOLDEN = {("build", identity.BUILD_VERSION): "2e1974255554a6b4",
          ("search", identity.SEARCH_VERSION): "61111ab981452f73"}


def test_each_stage_version_is_tied_to_what_it_computes(tmp_path):
    tiny = {"train__epochs": 2, "prune__rounds": 3, "dataset__train_limit": 400, "train__precision": "fp32"}
    pset = prac.build_prac(out=tmp_path, **tiny)
    ticket = prac.find_ticket(out=tmp_path, prac_set=pset, **tiny)
    got = {("build", identity.BUILD_VERSION): _digest(pset.stats()),
           ("search", identity.SEARCH_VERSION): _digest(ticket.masks)}
    assert got == GOLDEN, ("a stage computes something new: bump its version in prac/config/identity.py and set "
                           f"GOLDEN to {got}")
