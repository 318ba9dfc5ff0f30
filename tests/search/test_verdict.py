"""A ticket is called winning only against a dense reference of its own architecture (issue 30)."""


from pathlib import Path

import torch

from prac.config.load import load_config
from prac.report.inspect import cache_table
from prac.select import cache
from prac.store import unpack
from prac.train.loop import steps_for
from prac.search.loop import run_search
from prac.select.build import build_set
from prac.setup import from_config


def test_a_set_reused_for_another_architecture_is_judged_against_that_architectures_dense_network(
        built, tiny_overrides, capsys):
    """Reused for an MLP, LeNet's set used to give round 0 a few steps on the subset and call
    the ticket winning against that barely trained network; now round 0 is the MLP trained
    dense on the full split for train.epochs, cached once, charged, and the verdict is real."""
    cfg, entry, root = built
    other = load_config(None, tiny_overrides + ["model.name=mlp", "model.widths=[40]"])
    setup = from_config(other)
    report = run_search(setup, entry, root)
    full_round = steps_for(other.train.epochs, setup.data.train_size, other.train.batch_size)
    r0 = report["rounds"][0]
    assert r0["steps"] == full_round and r0["subset_size"] == report["train_size"]
    assert report["ticket"]["winning"] is not None
    ref = report["reference"]
    assert ref["steps"] == full_round and report["charged_steps"] == report["steps_total"] + entry.meta["dense"]["steps"]
    # the same dense network as a set built with the MLP holds: one computation, one key
    own = build_set(setup, root / "own")
    assert report["dense_val_acc"] == own.meta["dense"]["val_acc"]
    assert torch.equal(unpack(own.dense(), "trained")["hidden.0.weight"],
                       unpack(cache.load(root / "dense" / ref["key"]).dense(), "trained")["hidden.0.weight"])
    # cached: a second search with other search settings trains no dense network again
    again = load_config(None, tiny_overrides + ["model.name=mlp", "model.widths=[40]", "prune.tolerance=2"])
    second = run_search(from_config(again), entry, root)
    assert second["reference"] == ref and second["round0_seconds"] == ref["seconds"]
    assert "dense reference" in (Path(report["run_dir"]) / "report.md").read_text()
    cache_table(root)  # `prac cache ls` lists it beside the sets
    assert ref["key"][:16] in capsys.readouterr().out


def test_a_dense_network_at_chance_never_makes_a_winning_ticket(tmp_path, tiny_overrides):
    """An lr of 1e-9 leaves the dense network at chance; its tickets are at chance too and were
    called winning (within 0.5 pp of a network that learned nothing)."""
    cfg = load_config(None, tiny_overrides + ["train.lr=1e-9"])
    setup = from_config(cfg)
    entry = build_set(setup, tmp_path)
    assert entry.meta["dense"]["val_acc"] < 0.2
    report = run_search(setup, entry, tmp_path)
    assert report["ticket"]["winning"] is None
