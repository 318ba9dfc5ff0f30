"""A ticket is called winning only against a dense reference of its own architecture (issue 30)."""


from prac.config.load import load_config
from prac.search.loop import run_search
from prac.select.build import build_set
from prac.setup import from_config


def test_a_set_reused_for_another_architecture_gives_no_verdict(built, tiny_overrides):
    cfg, entry, root = built
    other = load_config(None, tiny_overrides + ["model.name=mlp", "model.widths=[40]"])
    report = run_search(from_config(other), entry, root)
    assert report["ticket"]["winning"] is None
    assert "winning unknown" in (root / "runs" / report["run_dir"].split("/")[-1] / "report.md").read_text()


def test_a_dense_network_at_chance_never_makes_a_winning_ticket(tmp_path, tiny_overrides):
    """An lr of 1e-9 leaves the dense network at chance; its tickets are at chance too and were
    called winning (within 0.5 pp of a network that learned nothing)."""
    cfg = load_config(None, tiny_overrides + ["train.lr=1e-9"])
    setup = from_config(cfg)
    entry = build_set(setup, tmp_path)
    assert entry.meta["dense"]["val_acc"] < 0.2
    report = run_search(setup, entry, tmp_path)
    assert report["ticket"]["winning"] is None
