"""find-ticket on a tiny digits run: rounds, masks, the account, reuse."""

import pytest
import torch
from safetensors.torch import load_file

from prac.select.build import build_prac
from prac.config.load import load_config
from prac.errors import PracError
from prac.prune import density
from prac.select.reuse import own_dense_round, reuse_problem, same_architecture
from prac.search.loop import find_ticket
from prac.setup import from_config


def search(cfg, entry, root):
    return find_ticket(from_config(cfg), entry, root)


def search_masks(overrides, entry, root):
    """A search's report and the masks of every round it saved."""
    r = search(load_config(None, overrides), entry, root)
    return r, load_file(f"{r['run_dir']}/masks.safetensors")


def test_find_ticket_reports_rounds_savings_and_a_masked_ticket(built):
    cfg, entry, root = built
    r = search(cfg, entry, root)
    assert [x["round"] for x in r["rounds"]] == [0, 1, 2]
    assert r["rounds"][0]["steps"] == entry.meta["dense"]["steps"]          # dense round is the build's
    assert r["rounds"][1]["density"] > r["rounds"][2]["density"] == r["final_density"]
    assert r["steps_total"] == sum(x["steps"] for x in r["rounds"])
    assert r["baseline_steps_total"] == 3 * 76
    assert abs(r["iteration_savings"] - (1 - r["steps_total"] / 228)) < 1e-12
    assert r["prac_size"] == entry.meta["prac_size"]
    ticket = load_file(f"{r['run_dir']}/ticket.safetensors")
    masks = {k[5:]: v for k, v in ticket.items() if k.startswith("mask.")}
    assert abs(density(masks) - r["final_density"]) < 1e-12
    init = entry.dense()
    assert all(torch.equal(ticket[f"rewind.{k[5:]}"], v) for k, v in init.items() if k.startswith("init."))
    for name in ("report.json", "report.md", "masks.safetensors"):
        assert (root / "runs" / r["run_dir"].split("/")[-1] / name).is_file()
    again = search(cfg, entry, root)    # finished: read back, not recomputed
    assert again["wall_seconds"] == r["wall_seconds"]



def test_a_set_is_refused_on_other_data(built):
    cfg, entry, root = built
    other = load_config(None, ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=500"])
    with pytest.raises(PracError, match="fingerprint"):
        search(other, entry, root)



def test_full_data_imp_beside_a_shortened_dense_run_trains_its_own_full_round_0(tmp_path, tiny_overrides):
    from pipelines.bench import method_config

    # seed 1: seed 0's round-0 data order happens to be the build's (round_seed(0, 0) == 0)
    cfg = load_config(None, tiny_overrides + ["seed=1", "select.dense_fraction=0.5"])
    entry = build_prac(from_config(cfg), tmp_path)
    r = search(cfg, entry, tmp_path)
    assert r["rounds"][0]["steps"] == entry.meta["dense"]["steps"] == 38    # the search starts from the short run
    assert r["baseline_steps_total"] == 3 * 76                               # savings still against full IMP
    says = "after 0.5 of train.epochs (select.dense_fraction): an undertrained reference"
    assert says in open(f"{r['run_dir']}/report.md").read()                # the report warns of the weak reference
    full = search(method_config(cfg, "full", 1.0), entry, tmp_path)
    assert full["rounds"][0]["steps"] == 76 and full["steps_total"] == 3 * 76
    # full-data IMP is the same run whatever the set's dense_fraction: the same dense round, the same ticket
    plain = load_config(None, tiny_overrides + ["seed=1"])
    reference = search(method_config(plain, "full", 1.0), build_prac(from_config(plain), tmp_path), tmp_path)
    assert full["rounds"][0]["val_acc"] == reference["rounds"][0]["val_acc"]
    ticket, same = (load_file(f"{x['run_dir']}/ticket.safetensors") for x in (full, reference))
    assert ticket.keys() == same.keys() and all(torch.equal(ticket[k], same[k]) for k in ticket)
    # the account: PrAC pays the short build and its own rounds; full-data IMP its own rounds only
    assert r["charged_steps"] == 38 + r["own_steps"] and full["charged_steps"] == 228 and full["iteration_savings"] == 0
    assert "round 0 76, on the full split; the set's build is not charged" in open(f"{full['run_dir']}/report.md").read()
    # a PrAC search asking for a full dense run cannot take this set's round 0
    with pytest.raises(PracError, match=r"changes select\.dense_fraction"):
        search(plain, entry, tmp_path)


def test_only_full_data_imp_of_the_same_network_and_seed_takes_its_own_round_0(tmp_path, tiny_overrides):
    from pipelines.bench import method_config

    short = load_config(None, tiny_overrides + ["seed=1", "select.dense_fraction=0.5"])
    meta = build_prac(from_config(short), tmp_path).meta
    full = method_config(short, "full", 1.0)
    assert own_dense_round(from_config(full), meta) and reuse_problem(from_config(full), meta) is None
    # another network's full-data IMP trains round 0 as any transfer does (round_seed), whatever the set's run
    mlp = method_config(load_config(None, tiny_overrides + ["seed=1", "model.name=mlp"]), "full", 1.0)
    assert not own_dense_round(from_config(mlp), meta)
    # the set's seed and recipe still bind full-data IMP of its network: its round 0 draws the build's data order
    for changes, says in ((["seed=7"], "changes seed"), (["seed=1", "train.lr=0.01"], "changes train.*")):
        other = method_config(load_config(None, tiny_overrides + ["select.dense_fraction=0.5", *changes]), "full", 1.0)
        assert says in reuse_problem(from_config(other), meta)


def test_reuse_for_another_architecture_trains_round_0_on_the_subset(built):
    cfg, entry, root = built
    other = load_config(None, ["train.epochs=4", "prune.rounds=1", "dataset.train_limit=600",
                               "model.name=mlp", "model.widths=[32]"])
    r = search(other, entry, root)
    assert r["source_model"] == "lenet_300_100" and r["model"] == "mlp"
    assert r["rounds"][0]["subset_size"] == r["subset_size"] < 600


@pytest.mark.parametrize("mode", ["union", "refresh"])
def test_reprobe_modes_shape_the_subset(built, mode):
    cfg, entry, root = built
    st = entry.stats()
    hard = int(((st["forgetting_events"] > 0) | st["never_learned"]).sum())
    c = load_config(None, ["train.epochs=4", "prune.rounds=3", "dataset.train_limit=600", "prune.search=finetune",
                           "select.size=all", "prune.search_budget=null",
                           f"select.reprobe={mode}"])
    sizes = [x["subset_size"] for x in search(c, entry, root)["rounds"][1:]]
    assert sizes[0] == entry.meta["prac_size"]
    if mode == "union":      # cumulative: never shrinks
        assert sizes == sorted(sizes)
    else:                    # hard-to-memorize stays, the flips are the latest ones only
        assert all(s >= hard for s in sizes)



@pytest.mark.parametrize("fraction", [1.0, 0.25])
def test_a_sampled_flip_probe_predicts_its_share_and_adds_only_what_it_predicted(built, monkeypatch, fraction):
    from prac.search import loop as search_module
    from prac.search.validate import round_seed
    cfg, entry, root = built
    seen = []

    def every_sample_flips(model, masks, x, *a, **k):
        seen.append(len(x))
        return torch.ones(len(x), dtype=torch.bool)

    monkeypatch.setattr(search_module, "prune_flips", every_sample_flips)
    c = load_config(None, ["train.epochs=4", "prune.rounds=3", "dataset.train_limit=600", "select.size=all",
                           "prune.search_budget=null", "select.reprobe=union", f"select.probe_fraction={fraction}"])
    n = len(from_config(c).data.y_train)
    sizes = [x["subset_size"] for x in search(c, entry, root)["rounds"][1:]]
    assert seen == [round(fraction * n)] * 2              # rounds 1 and 2 are probed; the last is not
    # round 2 trains on the set and round 1's probed samples, by their indices in the training split
    drawn = torch.randperm(n, generator=torch.Generator().manual_seed(round_seed(c.seed, 40_001)))[:seen[0]]
    probed = torch.arange(n) if fraction == 1 else drawn
    assert sizes[1] == len(torch.unique(torch.cat([entry.stats()["index"].long(), probed])))
    assert sizes[1] == n if fraction == 1 else sizes[1] < n


def test_a_set_built_before_a_config_field_existed_still_serves_its_dense_run(built):
    cfg, entry, _ = built
    older = {**entry.meta, "config": {**entry.meta["config"]}}
    older["config"]["train"] = {k: v for k, v in older["config"]["train"].items() if k != "precision"}
    older["config"]["model"] = {k: v for k, v in older["config"]["model"].items() if k != "width"}
    assert same_architecture(from_config(cfg), older) and reuse_problem(from_config(cfg), older) is None
    older["config"]["train"] = {**older["config"]["train"], "lr": 0.5}
    assert "changes train.*" in reuse_problem(from_config(cfg), older)


@pytest.mark.parametrize("change, says", [
    ("seed=1", "changes seed; the set's dense run is round 0"),
    ("train.lr=0.001", "changes train.*"),
    ("select.threshold=3", "selected with select.threshold=0 and this run asks select.threshold=3"),
    ("prune.rate=0.3", "prune.rate=0.2 and this run asks prune.rate=0.3"),
])
def test_reuse_that_would_silently_go_wrong_is_refused_before_anything_is_written(built, change, says):
    cfg, entry, root = built
    other = load_config(None, ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600", change])
    with pytest.raises(PracError, match=says.replace(".", r"\.").replace("*", r"\*")) as e:
        search(other, entry, root)
    assert "\n" not in str(e.value) and not (root / "runs").exists()


def test_another_architecture_may_change_seed_free_settings(built):
    cfg, entry, _ = built
    other = load_config(None, ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600", "model.name=mlp",
                               "train.lr=0.002"])
    assert not same_architecture(from_config(other), entry.meta) and reuse_problem(from_config(other), entry.meta) is None


def test_the_trained_ticket_is_kept_and_scores_what_the_report_says(built):
    from prac.train.evaluate import evaluate
    from prac.models import prunable

    cfg, entry, root = built
    r = search(cfg, entry, root)
    setup = from_config(cfg)
    trained = load_file(f"{r['run_dir']}/trained.safetensors")
    masks = {k[5:]: v for k, v in load_file(f"{r['run_dir']}/ticket.safetensors").items() if k.startswith("mask.")}
    model = setup.new_model()
    model.load_state_dict(trained)
    for name, p in prunable(model).items():
        assert (p[~masks[name]] == 0).all() and (p[masks[name]] != 0).any()
    t = setup.tensors()
    assert evaluate(model, t["x_test"], t["y_test"]) == r["ticket_test_acc"] == r["ticket"]["test_acc"]
    assert r["ticket"]["round"] == 2 and r["ticket"]["retrains"] == 1
    from prac.search.validate import margin

    below = margin(r["dense_val_acc"], 0.5, len(setup.data.y_val))
    assert r["ticket"]["winning"] == (r["ticket"]["val_acc"] >= r["dense_val_acc"] - below)


def test_bisect_retrains_the_rounds_it_asks_and_counts_them_all(built):
    cfg, entry, root = built
    c = load_config(None, ["train.epochs=4", "prune.rounds=4", "dataset.train_limit=600", "prune.validate=bisect",
                           "prune.tolerance=100"])     # every ticket wins: one retrain, the last round
    r = search(c, entry, root)
    assert [x["round"] for x in r["candidates"]] == [4] and r["ticket"]["winning"] and r["ticket"]["round"] == 4
    strict = load_config(None, ["train.epochs=4", "prune.rounds=4", "dataset.train_limit=600",
                                "prune.validate=bisect", "prune.tolerance=0", "prune.rate=0.9"])
    s = search(strict, build_prac(from_config(strict), root), root)       # a set probed at its own rate
    asked = [x["round"] for x in s["candidates"]]
    assert asked[0] == 4 and len(asked) == len(set(asked)) <= 3
    assert s["retrain_steps"] == sum(x["steps"] for x in s["candidates"]) == len(asked) * s["baseline_dense_steps"]
    end_to_end = 1 - (s["charged_steps"] + s["retrain_steps"]) / s["baseline_steps_total"]
    assert abs(s["iteration_savings_end_to_end"] - end_to_end) < 1e-12
    chosen = next(x for x in s["candidates"] if x["round"] == s["ticket"]["round"])
    assert chosen["test_acc"] == s["ticket_test_acc"] and chosen["density"] == s["final_density"]


def test_amortised_savings_count_a_duplicate_search_once_and_a_refused_one_not_at_all(built, tmp_path):
    from prac.select import cache

    cfg, entry, root = built
    first = search(cfg, entry, root)
    # the same search from another artifact root, on the same set by its folder: a duplicate
    elsewhere = search(cfg, cache.resolve(None, str(entry.path)), tmp_path / "other")
    with pytest.raises(PracError):
        search(load_config(None, ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600", "seed=3"]),
               entry, root)
    uses = entry.uses()
    assert len(uses) == 1 and elsewhere["amortised"]["runs"] == 1
    assert elsewhere["amortised"]["iteration_savings"] == first["iteration_savings"]


def test_a_step_budget_fixes_every_rounds_steps_and_sizes_the_subset(built):
    cfg, entry, root = built
    over = ["train.epochs=4", "prune.rounds=3", "dataset.train_limit=600", "prune.search_budget=0.1",
            "prune.search_extend=0"]
    r = search(load_config(None, over + ["select.size=budget"]), entry, root)
    full_round = 4 * 19                                           # 600 samples at batch 32, 4 epochs
    steps = round(0.1 * full_round)
    assert [x["steps"] for x in r["rounds"][1:]] == [steps, steps, 0]         # the last round is not trained
    assert [x["subset_size"] for x in r["rounds"][1:]] == [steps * 32] * 3     # one pass of the budget
    rnd = search(load_config(None, over + ["select.size=budget", "select.subset=random", "select.reprobe=none"]),
                 entry, root)
    assert [x["steps"] for x in rnd["rounds"][1:]] == [steps, steps, 0] and rnd["subset_size"] == steps * 32
    whole = search(load_config(None, over + ["select.size=all"]), entry, root)           # the PrAC set as it is, the same steps
    assert whole["rounds"][1]["subset_size"] == entry.meta["prac_size"]
    assert [x["steps"] for x in whole["rounds"][1:]] == [steps, steps, 0]


def test_distillation_needs_no_new_set_for_the_same_architecture(built):
    cfg, entry, root = built
    r = search(load_config(None, ["train.epochs=4", "prune.rounds=1", "dataset.train_limit=600",
                                  "prune.distill=0.5"]), entry, root)
    assert r["config"]["prune"]["distill"] == 0.5 and "dense_logits" in entry.stats()
    from prac.select import predict

    setup = from_config(cfg)
    dense = setup.new_model()
    dense.load_state_dict({k[8:]: v for k, v in entry.dense().items() if k.startswith("trained.")})
    logits = entry.stats()["dense_logits"]                        # the cached dense network's own predictions
    assert logits.shape == (600, 10) and torch.equal(logits.argmax(1), predict(dense, setup.tensors()["x_train"]))


def test_a_run_started_before_probe_fraction_existed_resumes_with_the_probe_it_ran_on(built):
    """run.json of a run started with the full probe holds no probe_fraction: --resume must
    continue that run (probe of every sample, its old name), not start a half-probe one."""
    import dataclasses
    import json

    from prac.config.schema import to_dict
    from prac.search.naming import run_name
    from prac.search.loop import resumable

    cfg, entry, root = built
    for saved, expected in ((None, 1.0), (0.5, 0.5)):
        config = to_dict(cfg)
        config["select"].pop("probe_fraction")
        if saved is not None:
            config["select"]["probe_fraction"] = saved
        rdir = root / "runs" / f"started-{saved}"
        rdir.mkdir(parents=True)
        (rdir / "run.json").write_text(json.dumps({"prac_key": entry.key, "config": config, "network": {}}))
        resumed, _, _ = resumable(rdir)
        assert resumed.select.probe_fraction == expected
    old = resumable(root / "runs" / "started-None")[0]
    full = dataclasses.replace(cfg, select=dataclasses.replace(cfg.select, probe_fraction=1.0))
    assert run_name(from_config(old), entry.key) == run_name(from_config(full), entry.key)


def test_the_search_weight_decay_acts_on_fine_tuning_rounds_only(built):
    """prune.search_weight_decay changes what a fine-tuning round keeps; a round that rewinds
    (here every round, late_rewind=0.99) trains as the search's training says, so its masks,
    its steps and its run's name do not depend on it."""
    cfg, entry, root = built
    over = ["train.epochs=4", "prune.rounds=3", "dataset.train_limit=600", "prune.search_budget=0.2",
            "prune.search_extend=0"]

    def masks(*extra):
        return search_masks(over + list(extra), entry, root)

    plain, m0 = masks("prune.search_weight_decay=0")
    decayed, m1 = masks("prune.search_weight_decay=0.5")
    assert plain["run_dir"] != decayed["run_dir"] and set(m0) == set(m1)
    assert any(not torch.equal(m0[k], m1[k]) for k in m0)                   # it prunes other weights
    rewound, m2 = masks("prune.late_rewind=0.99", "prune.search_weight_decay=0")
    rewound_wd, m3 = masks("prune.late_rewind=0.99", "prune.search_weight_decay=0.5")
    assert all(torch.equal(m2[k], m3[k]) for k in m2)
    assert [x["steps"] for x in rewound["rounds"]] == [x["steps"] for x in rewound_wd["rounds"]]
    imp = ["prune.search=rewind", "prune.search_budget=null", "select.size=all"]
    assert (search(load_config(None, over + imp + ["prune.search_weight_decay=0"]), entry, root)["run_dir"]
            == search(load_config(None, over + imp), entry, root)["run_dir"])      # named alike: the same run


def test_the_search_reach_sets_the_fine_tuning_lr_from_how_far_the_dense_run_moved_the_weights(built):
    """prune.search_reach raises the fine-tuning rounds' peak lr until a budget of Adam steps
    reaches that many times the mean distance the dense run moved a prunable weight; never
    below the search's lr; an explicit prune.search_lr (or null) leaves the lr alone."""
    from prac.prune import full_masks

    cfg, entry, root = built
    over = ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600", "prune.search_budget=0.1",
            "prune.search_extend=0"]
    dense = entry.dense()
    names = full_masks(from_config(cfg).new_model())
    moved = torch.cat([(dense[f"trained.{n}"] - dense[f"init.{n}"]).abs().flatten() for n in names]).mean().item()
    steps = round(0.1 * 4 * 19)                                   # a budget: 600 samples at batch 32, 4 epochs

    def run(*extra):
        return search_masks(over + list(extra), entry, root)

    far, m_far = run("prune.search_reach=50")
    assert far["finetune_lr"] == pytest.approx(50 * moved / steps) and far["finetune_lr"] > cfg.train.lr
    assert run("prune.search_reach=0.01")[0]["finetune_lr"] == cfg.train.lr     # never below the search's lr
    off, m_off = run("prune.search_reach=null")
    assert off["finetune_lr"] == cfg.train.lr and run("prune.search_lr=0.002")[0]["finetune_lr"] == 0.002
    assert [x["steps"] for x in far["rounds"]] == [x["steps"] for x in off["rounds"]]   # the same budgets
    assert any(not torch.equal(m_far[k], m_off[k]) for k in m_far)                      # at another lr
