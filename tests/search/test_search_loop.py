"""find-ticket on a tiny digits run: rounds, masks, the account, reuse, the search policies."""

import dataclasses
import math
import types

import pytest
import torch
from safetensors.torch import load_file

import prac.search.rounds
from prac.config.load import load_config
from prac.errors import PracError
from prac.prune import density, full_masks, magnitude_masks, round_masks
from prac.search.loop import run_search, probed_samples
from prac.search.policies import POLICIES
from prac.search.run import round_seed
from prac.select.build import build_set
from prac.select.reuse import reuse_problem, same_architecture
from prac.setup import from_config
from prac.store import unpack

TINY = ["train.epochs=4", "dataset.train_limit=600"]


def search(cfg, entry, root):
    return run_search(from_config(cfg), entry, root)


def search_masks(overrides, entry, root):
    """A search's report and the masks of every round it saved."""
    r = search(load_config(None, overrides), entry, root)
    return r, load_file(f"{r['run_dir']}/masks.safetensors")


def with_policy(monkeypatch, name, **changes):
    """The search policy ``name`` with other settings for this test (they are not config keys,
    so a run under them has the same name: give it its own artifact root)."""
    monkeypatch.setitem(POLICIES, name, dataclasses.replace(POLICIES[name], **changes))


def full_round_steps(cfg, n):
    """Steps of one full-data round, from the config: train.epochs passes of ceil(n / batch) steps."""
    return round(cfg.train.epochs * math.ceil(n / cfg.train.batch_size))


def subsets_trained(monkeypatch):
    """{round: the training indices its first budget trained on}, read off the engine's seed."""
    seen = {}
    real = prac.search.rounds.train

    def spy(model, x, y, indices, *a, seed, **k):
        for r in range(1, 20):
            chunk, rest = divmod(seed - round_seed(0, r), 100_003)
            if rest == 0 and chunk >= 0:
                seen.setdefault(r, indices.clone())
        return real(model, x, y, indices, *a, seed=seed, **k)

    monkeypatch.setattr(prac.search.rounds, "train", spy)
    return seen


def test_find_ticket_reports_rounds_savings_and_a_masked_ticket(built):
    cfg, entry, root = built
    r = search(cfg, entry, root)
    assert [x["round"] for x in r["rounds"]] == [0, 1, 2]
    assert r["rounds"][0]["steps"] == entry.meta["dense"]["steps"]          # dense round is the build's
    assert r["rounds"][1]["density"] > r["rounds"][2]["density"] == r["final_density"]
    assert r["steps_total"] == sum(x["steps"] for x in r["rounds"])
    assert r["baseline_steps_total"] == 3 * 76
    assert abs(r["iteration_savings"] - (1 - r["steps_total"] / 228)) < 1e-12
    assert r["prac_size"] == entry.meta["prac_size"] and r["search"] == "finetune" and r["subset"] == "prac"
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


def test_full_data_imp_trains_every_round_on_the_full_split_for_train_epochs_and_prunes_by_magnitude(built):
    """prune.search=imp: plain IMP. Every round rewinds and trains the whole split for
    train.epochs (steps computed here from the config, not read from the report), so it saves
    nothing; its masks are magnitude masks of the network each round trained."""
    from prac.train.loop import steps_for, train

    cfg, entry, root = built
    c = load_config(None, TINY + ["prune.rounds=2", "prune.search=imp"])
    setup = from_config(c)
    n, b = setup.data.train_size, c.train.batch_size
    per_round = full_round_steps(c, n)
    assert n == 600 and per_round == math.ceil(600 / 32) * 4 == steps_for(c.train.epochs, n, b) == 76
    r, history = search_masks(TINY + ["prune.rounds=2", "prune.search=imp"], entry, root)
    assert r["search"] == "imp" and r["subset"] == "full" and r["subset_size"] == n
    assert "-full-" in r["run_dir"].split("/")[-1]                         # named by the selector it trained with
    assert [x["steps"] for x in r["rounds"]] == [per_round] * 3             # the dense run's, then two full rounds
    assert [x["samples"] for x in r["rounds"][1:]] == [c.train.epochs * n] * 2
    assert [x["subset_size"] for x in r["rounds"]] == [n] * 3
    assert [x["rewound"] for x in r["rounds"][1:]] == [True, True] and [x["chunks"] for x in r["rounds"][1:]] == [1, 1]
    assert r["steps_total"] == r["baseline_steps_total"] == 3 * per_round
    assert r["charged_steps"] == 3 * per_round and r["iteration_savings"] == 0
    assert r["finetune_lr"] == c.train.lr                                   # no reach: rounds train as the dense run
    # round 1 prunes the round-0 dense network by plain magnitude at the configured rates
    p, weights = c.prune, entry.dense()
    dense = setup.new_model()
    dense.load_state_dict(unpack(weights, "trained"))
    first = magnitude_masks(dense, None, p.round_rate, p.out_rate, p.scope, p.conv_rate)
    one = round_masks(history, 1)
    assert one.keys() == first.keys() and all(torch.equal(one[k], first[k]) for k in first)
    # round 2 prunes round 1's ticket, rewound and retrained on every sample for train.epochs
    # with round 1's data order, again by magnitude
    model = setup.new_model()
    model.load_state_dict(unpack(weights, "rewind"))
    t = setup.tensors()
    st = train(model, t["x_train"], t["y_train"], torch.arange(n), c.train, epochs=c.train.epochs,
               seed=round_seed(c.seed, 1), masks={k: m.to(setup.device) for k, m in one.items()})
    assert st.steps == per_round
    second = magnitude_masks(model, one, p.round_rate, p.out_rate, p.scope, p.conv_rate)
    two = round_masks(history, 2)
    assert all(torch.equal(two[k], second[k].cpu()) for k in second)
    assert not all(torch.equal(two[k], one[k]) for k in one)


def test_the_finetune_policys_savings_fall_within_what_its_budgets_allow(built, tmp_path, monkeypatch):
    """The recipe's step account, bounded from the config alone: round 0 is the set's dense
    run (one full round); each of the rounds 1..R-1 spends 1 to 1 + extend budgets of
    search_budget x a full round, or none while it is one-shot (a prefix of the rounds); the
    last round is pruned, not trained; full-data IMP spends R + 1 full rounds."""
    cfg, entry, root = built
    rounds, budget = 4, 0.1
    over = TINY + [f"prune.rounds={rounds}", f"prune.search_budget={budget}"]
    c = load_config(None, over)
    n = from_config(c).data.train_size
    full = full_round_steps(c, n)
    steps = max(1, round(budget * full))
    extend = POLICIES["finetune"].extend
    assert (full, steps, extend) == (76, 8, 3)
    baseline = (rounds + 1) * full
    most = full + (rounds - 1) * (1 + extend) * steps

    def bounded(r, least):
        assert r["baseline_steps_total"] == baseline
        assert least <= r["steps_total"] <= most and least <= r["charged_steps"] <= most
        assert 1 - most / baseline - 1e-12 <= r["iteration_savings"] <= 1 - least / baseline + 1e-12
        trained = [x["steps"] > 0 for x in r["rounds"][1:-1]]
        assert trained == sorted(trained)                                            # one-shot rounds come first
        for x in r["rounds"][1:-1]:
            assert x["steps"] in [k * steps for k in range(0, 2 + extend)] and not x["rewound"]
        assert r["rounds"][-1]["steps"] == 0
        assert r["retrain_steps"] == full                                            # the last round's ticket

    bounded(search(c, entry, root), full)                   # the shipped recipe: any prefix may be one-shot
    with_policy(monkeypatch, "finetune", oneshot_drop=None)
    every = search(c, entry, tmp_path / "every-round")
    bounded(every, full + (rounds - 1) * steps)
    assert every["iteration_savings"] >= 1 - most / baseline - 1e-12 > 0.3           # the recipe does save
    # without one-shot rounds or extension budgets the account is exact
    with_policy(monkeypatch, "finetune", extend=0, oneshot_drop=None)
    fixed = search(c, entry, tmp_path / "no-extension")
    exact = full + (rounds - 1) * steps
    assert fixed["steps_total"] == exact and fixed["iteration_savings"] == pytest.approx(1 - exact / baseline, abs=1e-12)


def controlled_flips(monkeypatch, n, fraction, pick):
    """The flip probe patched: round r's probe flips ``pick(r, probed)`` of the samples it
    predicts, ``probed`` being its share of the split (``probed_samples``) as training-split
    indices. Returns the flips by round."""
    from prac.search import loop as search_module

    flips = {}

    def probe(run, model, masks, idx):
        r = run.state.rounds[-1]["round"]
        probed = probed_samples(n, fraction, 0, r)
        assert torch.isin(idx, probed).all()                  # it predicts only its share
        flips.setdefault(r, pick(r, probed))
        return idx[torch.isin(idx, flips[r])]

    monkeypatch.setattr(search_module, "flips_among", probe)
    return flips


@pytest.mark.parametrize("search_policy", ["rewind", "finetune"])
def test_the_rewind_policy_unites_the_flips_with_the_set_and_finetune_refreshes_its_budget(built, monkeypatch,
                                                                                          search_policy):
    """rewind (union, the paper's): every round trains on the set and every flip found so far;
    finetune (refresh): every round trains on a budget built around the hard-to-memorize samples
    and the latest flips only. Under either, the shipped selector never trains on a sample the
    dense run never learned."""
    cfg, entry, root = built
    st = entry.stats()
    barred = st["never_learned"].bool()
    assert barred[st["index"]].any()                      # the tiny set has some: the bar is exercised
    hard = torch.nonzero((st["forgetting_events"] > 0) & ~barred).flatten()
    members = st["index"].long()[~barred[st["index"]]]
    pol = POLICIES[search_policy]
    n = 600

    def pick(r, probed):  # ten learned samples outside the set, another ten each round
        outside = probed[~torch.isin(probed, members) & ~barred[probed]]
        return outside[10 * (r - 1):10 * r]

    with_policy(monkeypatch, "finetune", oneshot_drop=None)  # every round trains (the tiny run's prunes are free)
    flips = controlled_flips(monkeypatch, n, pol.probe_fraction, pick)
    seen = subsets_trained(monkeypatch)
    r = search(load_config(None, TINY + ["prune.rounds=4", f"prune.search={search_policy}"]), entry, root)
    sizes = [x["subset_size"] for x in r["rounds"][1:]]
    trained = [seen[k] for k in sorted(seen)]
    assert not any(barred[t].any() for t in trained)
    assert r["barred"] == int(barred[st["index"]].sum())   # the report counts the set's members left out
    if search_policy == "rewind":  # every round trained and probed but the last: subsets of rounds 1..4
        assert sorted(flips) == [1, 2, 3] and sorted(seen) == [1, 2, 3, 4]
        assert sizes[0] == len(members) and sizes == sorted(sizes)                  # cumulative: never shrinks
        for k in (1, 2, 3):
            assert torch.equal(trained[k], torch.unique(torch.cat([members, *(flips[j] for j in range(1, k + 1))])))
    else:  # the last round is not trained: rounds 1..3, and no probe after round 3 (no round would use it)
        assert sorted(flips) == [1, 2] and sorted(seen) == [1, 2, 3]
        budget = max(1, round(cfg.prune.search_budget * full_round_steps(cfg, n))) * cfg.train.batch_size
        assert sizes == [budget] * 4 and all(len(s) == budget for s in trained)
        assert torch.isin(members, trained[0]).all()                              # round 1: around the set
        for k in (1, 2):  # the hard samples and the latest flips; the flips before are not kept
            assert torch.isin(hard, trained[k]).all() and torch.isin(flips[k], trained[k]).all()
        assert not torch.isin(flips[1], trained[2]).all()


@pytest.mark.parametrize("fraction", [1.0, 0.25])
def test_a_sampled_flip_probe_predicts_its_share_and_adds_only_what_it_predicted(built, monkeypatch, fraction):
    """The rewind policy (the set as it is, union): the probe's share is the policy's
    probe_fraction, a fresh random draw each round."""
    from prac.search import loop as search_module

    cfg, entry, root = built
    with_policy(monkeypatch, "rewind", probe_fraction=fraction)
    seen = []

    def every_sample_flips(model, masks, x, *a, **k):
        seen.append(len(x))
        return torch.ones(len(x), dtype=torch.bool)

    monkeypatch.setattr(search_module, "prune_flips", every_sample_flips)
    c = load_config(None, TINY + ["prune.rounds=3", "prune.search=rewind"])
    n = len(from_config(c).data.y_train)
    sizes = [x["subset_size"] for x in search(c, entry, root / str(fraction))["rounds"][1:]]
    # round 1's share, by its indices in the training split (round 2's is drawn the same way)
    drawn = torch.randperm(n, generator=torch.Generator().manual_seed(round_seed(c.seed, 40_001)))
    first = torch.arange(n) if fraction == 1 else drawn[:round(fraction * n)].sort().values
    assert torch.equal(first, probed_samples(n, fraction, c.seed, 1))
    second = probed_samples(n, fraction, c.seed, 2)
    st = entry.stats()
    barred = st["never_learned"].bool()                   # the shipped selector's bar: never trained, never probed
    members = st["index"].long()[~barred[st["index"]]]
    pool = torch.unique(torch.cat([members, first[~barred[first]]]))  # round 2: the set and round 1's flips
    learned = n - int(barred.sum())
    assert sizes[1] == len(pool) and (sizes[1] == learned if fraction == 1 else sizes[1] < learned)
    # each round predicts only the samples of its share that are not in the pool yet (nor
    # barred): the others are in it whatever they do (all of them, after a full probe that flipped all)
    outside = [int((~torch.isin(first, members) & ~barred[first]).sum()),
               int((~torch.isin(second, pool) & ~barred[second]).sum())]
    assert seen == [k for k in outside if k] and (len(seen) == 1) == (fraction == 1)


@pytest.mark.parametrize("budget", [[], ["prune.search_budget=0.001", "prune.rate=0.7"]])
def test_the_probe_skips_the_samples_whose_flips_cannot_change_the_subset(built, monkeypatch, budget):
    """A probed sample the refresh keeps anyway (hard to memorize) is predicted only when the
    merged samples outnumber the budget, where its flip ranks them: the search trains on the
    same subsets and prunes the same masks as with every probed sample predicted, and each
    round it skipped them is charged two predictions fewer for each."""
    from prac.search import loop as search_module

    cfg, entry, root = built
    with_policy(monkeypatch, "finetune", oneshot_drop=None)   # every round trains and probes
    c = load_config(None, TINY + ["prune.rounds=4"] + budget)
    if budget:                                                 # a set probed at its own rate
        entry = build_set(from_config(c), root / "set")
    n, st = len(from_config(c).data.y_train), entry.stats()
    hard = (st["forgetting_events"] > 0) | st["never_learned"]
    calls, real = {}, search_module.flips_among

    def spy(run, model, masks, idx):
        if len(idx):
            calls.setdefault(run.state.rounds[-1]["round"], []).append(len(idx))
        return real(run, model, masks, idx)

    monkeypatch.setattr(search_module, "flips_among", spy)
    seen = subsets_trained(monkeypatch)
    skipping, skipping_masks = search_masks(TINY + ["prune.rounds=4"] + budget, entry, root / "skip")
    skipped = {r: list(k) for r, k in calls.items()}
    subsets = dict(seen)
    calls.clear(), seen.clear()
    monkeypatch.setattr(search_module, "settled", lambda *a, **k: torch.zeros(n, dtype=torch.bool))
    every, every_masks = search_masks(TINY + ["prune.rounds=4"] + budget, entry, root / "every")
    assert all(torch.equal(subsets[r], seen[r]) for r in seen) and sorted(subsets) == sorted(seen) == [1, 2, 3]
    assert all(torch.equal(skipping_masks[k], every_masks[k]) for k in every_masks)
    for r in (1, 2):                                            # the rounds that probe
        probed = probed_samples(n, POLICIES["finetune"].probe_fraction, c.seed, r)
        kept = int(hard[probed].sum())
        assert kept > 0 and calls[r] == [len(probed)]
        saved = 2 * kept if len(skipped[r]) == 1 else 0       # two calls: the flips ranked the pool
        assert skipped[r] == ([len(probed) - kept] if saved else [len(probed) - kept, kept])
        assert every["rounds"][r]["forwards"] - skipping["rounds"][r]["forwards"] == saved
    ranked = any(len(k) == 2 for k in skipped.values())
    assert ranked == bool(budget)                               # a budget this small is outnumbered


def test_random_and_full_selectors_are_not_refined_by_the_probe(built, monkeypatch):
    from prac.search import loop as search_module

    cfg, entry, root = built
    monkeypatch.setattr(search_module, "prune_flips", lambda *a, **k: pytest.fail("only the PrAC set is probed"))
    for method in ("random", "full"):
        r = search(load_config(None, TINY + ["prune.rounds=3", "prune.search=rewind", f"select.method={method}"]),
                   entry, root)
        assert r["subset"] == method and len({x["subset_size"] for x in r["rounds"][1:]}) == 1
    assert r["subset_size"] == 600


def test_a_set_built_before_a_config_field_existed_still_serves_its_dense_run(built):
    cfg, entry, _ = built
    older = {**entry.meta, "config": {**entry.meta["config"]}}
    older["config"]["train"] = {k: v for k, v in older["config"]["train"].items() if k != "precision"}
    older["config"]["model"] = {k: v for k, v in older["config"]["model"].items() if k != "width"}
    old = types.SimpleNamespace(meta=older, key=entry.key, check_current=lambda: entry)
    assert same_architecture(from_config(cfg), older) and reuse_problem(from_config(cfg), old) is None
    older["config"]["train"] = {**older["config"]["train"], "lr": 0.5}
    assert "changes train.lr" in reuse_problem(from_config(cfg), old)


@pytest.mark.parametrize("change, says", [
    ("seed=1", "changes seed; the set's dense run is round 0"),
    ("train.lr=0.001", "changes train.lr"),
    ("select.threshold=3", "selected with select.threshold=0 and this run asks select.threshold=3"),
    ("prune.rate=0.3 prune.output_rate=0.1", "prune.rate=0.2 and this run asks prune.rate=0.3"),
])
def test_reuse_that_would_silently_go_wrong_is_refused_before_anything_is_written(built, change, says):
    cfg, entry, root = built
    other = load_config(None, ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600", *change.split()])
    with pytest.raises(PracError, match=says.replace(".", r"\.").replace("*", r"\*")) as e:
        search(other, entry, root)
    assert "\n" not in str(e.value) and not (root / "runs").exists()


def test_another_architecture_may_change_seed_free_settings(built):
    cfg, entry, _ = built
    other = load_config(None, ["train.epochs=4", "prune.rounds=2", "dataset.train_limit=600", "model.name=mlp",
                               "train.lr=0.002"])
    assert not same_architecture(from_config(other), entry.meta) and reuse_problem(from_config(other), entry) is None


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
    s = search(strict, build_set(from_config(strict), root), root)       # a set probed at its own rate
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


def test_a_step_budget_fixes_every_rounds_steps_and_sizes_the_subset(built, monkeypatch):
    cfg, entry, root = built
    with_policy(monkeypatch, "finetune", extend=0, oneshot_drop=None)
    over = TINY + ["prune.rounds=3", "prune.search_budget=0.1"]
    r = search(load_config(None, over), entry, root)
    full_round = 4 * 19                                           # 600 samples at batch 32, 4 epochs
    steps = round(0.1 * full_round)
    assert [x["steps"] for x in r["rounds"][1:]] == [steps, steps, 0]         # the last round is not trained
    assert [x["subset_size"] for x in r["rounds"][1:]] == [steps * 32] * 3     # one pass of the budget
    rnd = search(load_config(None, over + ["select.method=random"]), entry, root)
    assert [x["steps"] for x in rnd["rounds"][1:]] == [steps, steps, 0] and rnd["subset_size"] == steps * 32
    assert rnd["subset"] == "random" and rnd["run_dir"] != r["run_dir"]


def test_the_finetune_policys_weight_decay_acts_on_fine_tuning_rounds_only(built, tmp_path, monkeypatch):
    """The fine-tuning rounds' weight decay changes what they keep; a rewinding round trains
    as train.* says, so a weight decay in the rewind policy changes nothing."""
    cfg, entry, _ = built
    over = TINY + ["prune.rounds=3", "prune.search_budget=0.2"]

    def masks(name, policy, **changes):
        with_policy(monkeypatch, policy, **changes)
        return search_masks(over + [f"prune.search={policy}"], entry, tmp_path / name)

    plain, m0 = masks("plain", "finetune", extend=0, weight_decay=0.0, oneshot_drop=None)
    decayed, m1 = masks("decayed", "finetune", extend=0, weight_decay=0.5, oneshot_drop=None)
    assert set(m0) == set(m1) and any(not torch.equal(m0[k], m1[k]) for k in m0)      # it prunes other weights
    rewound, m2 = masks("rewound", "rewind")
    rewound_wd, m3 = masks("rewound-wd", "rewind", weight_decay=0.5)
    assert all(torch.equal(m2[k], m3[k]) for k in m2)
    assert [x["steps"] for x in rewound["rounds"]] == [x["steps"] for x in rewound_wd["rounds"]]


def test_the_reach_sets_the_fine_tuning_lr_from_how_far_the_dense_run_moved_the_weights(built, tmp_path,
                                                                                        monkeypatch):
    """The finetune policy's reach raises the fine-tuning rounds' peak lr until a budget of
    Adam steps reaches that many times the mean distance the dense run moved a prunable
    weight; never below train.lr; without a reach the lr is train.lr."""
    cfg, entry, _ = built
    over = TINY + ["prune.rounds=2", "prune.search_budget=0.1"]
    dense = entry.dense()
    names = full_masks(from_config(cfg).new_model())
    moved = torch.cat([(dense[f"trained.{n}"] - dense[f"init.{n}"]).abs().flatten() for n in names]).mean().item()
    steps = round(0.1 * 4 * 19)                                   # a budget: 600 samples at batch 32, 4 epochs
    reach = POLICIES["finetune"].reach

    def run(name, reach):
        with_policy(monkeypatch, "finetune", extend=0, reach=reach, oneshot_drop=None)
        return search_masks(over, entry, tmp_path / name)

    far, m_far = run("far", 50.0)
    assert far["finetune_lr"] == pytest.approx(50 * moved / steps) and far["finetune_lr"] > cfg.train.lr
    assert run("near", 0.01)[0]["finetune_lr"] == cfg.train.lr     # never below train.lr
    off, m_off = run("off", None)
    assert off["finetune_lr"] == cfg.train.lr
    assert [x["steps"] for x in far["rounds"]] == [x["steps"] for x in off["rounds"]]   # the same budgets
    assert any(not torch.equal(m_far[k], m_off[k]) for k in m_far)                      # at another lr
    monkeypatch.undo()  # the shipped policy
    shipped = search(load_config(None, over), entry, tmp_path / "shipped")
    assert shipped["finetune_lr"] == pytest.approx(max(cfg.train.lr, reach * moved / steps))


def test_the_search_prunes_one_shot_until_pruning_the_dense_network_costs_validation(built, tmp_path, monkeypatch):
    """With ``oneshot_drop``, a round trains nothing while pruning the dense network leaves its
    validation accuracy within that many points: the network stays the dense one, so those
    rounds' masks are the dense weights pruned one round at a time (one-shot, nested). The
    first round that costs more trains, held to the dense network's validation accuracy, and
    so does every round after it, whatever pruning costs there."""
    from prac.search import loop as search_module
    from prac.search.loop import last_trained_val

    cfg, entry, _ = built
    p = cfg.prune
    over = TINY + ["prune.rounds=4", "prune.search_budget=0.1"]
    real, asked = search_module.evaluate_pruned, []

    def scripted(run, model, masks):  # round 2's pruned network falls 60 points below the dense one
        st, budgets, evaluation = real(run, model, masks)
        asked.append(len(run.state.rounds))          # the round being pruned
        if len(run.state.rounds) == 2:
            evaluation["val_acc"] = run.state.rounds[0]["val_acc"] - 0.6
        return st, budgets, evaluation

    monkeypatch.setattr(search_module, "evaluate_pruned", scripted)
    with_policy(monkeypatch, "finetune", oneshot_drop=50.0)
    r, history = search_masks(over, entry, tmp_path / "switch")
    steps = [x["steps"] for x in r["rounds"]]
    assert steps[1] == 0 and steps[2] > 0 and steps[3] > 0 and steps[4] == 0  # round 4: the last, never trained
    assert asked == [1, 2, 4]                          # checked while dense; round 3 trains unasked; 4: the last
    assert r["steps_total"] == steps[0] + steps[2] + steps[3]
    setup = from_config(cfg)
    dense = setup.new_model()
    weights = entry.dense()
    dense.load_state_dict(unpack(weights, "trained"))
    rewind = unpack(weights, "rewind")
    criterion = POLICIES["finetune"].criterion
    one = magnitude_masks(dense, None, p.round_rate, p.out_rate, p.scope, p.conv_rate, criterion, rewind)
    two = magnitude_masks(dense, one, p.round_rate, p.out_rate, p.scope, p.conv_rate, criterion, rewind)
    for k in one:   # round 2 prunes the untouched dense network again: one-shot masks, nested
        assert torch.equal(round_masks(history, 1)[k], one[k]) and torch.equal(round_masks(history, 2)[k], two[k])
    # a drop no pruning stays within: the search without one-shot rounds, mask for mask and
    # step for step, with one more validation pass (round 1's check) in the account
    monkeypatch.setattr(search_module, "evaluate_pruned", real)
    with_policy(monkeypatch, "finetune", oneshot_drop=-100.0)
    never, m_never = search_masks(over, entry, tmp_path / "never")
    with_policy(monkeypatch, "finetune", oneshot_drop=None)
    shipped, m_shipped = search_masks(over, entry, tmp_path / "every-round")
    assert all(torch.equal(m_never[k], m_shipped[k]) for k in m_shipped)
    assert [x["steps"] for x in never["rounds"]] == [x["steps"] for x in shipped["rounds"]]
    n_val = len(setup.tensors()["y_val"])
    assert never["rounds"][1]["forwards"] == shipped["rounds"][1]["forwards"] + n_val
    rounds = [{"round": 0, "val_acc": 0.9, "steps": 100}, {"round": 1, "val_acc": 0.5, "steps": 0},
              {"round": 2, "val_acc": 0.4, "steps": 0}]
    assert last_trained_val(rounds) == 0.9
    assert last_trained_val(rounds + [{"round": 3, "val_acc": 0.8, "steps": 8}]) == 0.8
