"""What names a run: a setting is spelled out when it changes what the run computes."""

from prac.config.load import load_config


def as_before(config, *new):
    """``config`` as an instance of its class from before the fields ``new`` existed: what a
    run's name digested then."""
    import dataclasses

    fields = [(f.name, f.type, f) for f in dataclasses.fields(config) if f.name not in new]
    before = dataclasses.make_dataclass(type(config).__name__, fields, frozen=True)
    return before(**{k: v for k, v in dataclasses.asdict(config).items() if k not in new})


def test_a_budgeted_run_is_named_by_its_pace_and_criterion_and_plain_imp_keeps_its_name():
    import dataclasses

    from prac.config.schema import PruneConfig, digest
    from prac.search.naming import named_prune

    p = load_config(None, []).prune
    old_defaults = dataclasses.replace(p, search_extend=1, criterion="magnitude")
    assert digest(*named_prune(p)) != digest(*named_prune(old_defaults))
    # no cap (the default), no plateau stop, no weight decay, no reach
    uncapped = dataclasses.replace(p, search_plateau=False, search_weight_decay=0.0, search_reach=None)
    assert digest(*named_prune(dataclasses.replace(p, search_cap=2.5))) != digest(*named_prune(uncapped))
    # an uncapped fixed pace computes what the search did before the cap existed, and keeps the
    # name it had then, when PruneConfig had no search_cap (nor search_plateau, search_weight_decay,
    # search_reach) field
    was = as_before(uncapped, "search_cap", "search_plateau", "search_weight_decay", "search_reach")
    assert digest(*named_prune(uncapped)) == digest(was, {"pace": "fixed", "extend": 3, "criterion": "same_sign"})
    imp = dataclasses.replace(p, search="rewind", search_budget=None, search_extend=0, criterion="magnitude")
    # what plain IMP by magnitude was named before the criterion existed: the criterion left out
    assert digest(*named_prune(imp)) == digest(dataclasses.replace(imp, criterion=PruneConfig().criterion))
    assert digest(*named_prune(imp)) != digest(*named_prune(dataclasses.replace(imp, criterion="same_sign")))
    assert digest(*named_prune(dataclasses.replace(imp, search_cap=None))) == digest(*named_prune(imp))  # no budget, no cap


def test_search_plateau_names_a_run_only_when_on_whatever_its_default(monkeypatch):
    """Runs without the plateau stop compute what runs did before the field existed and keep
    those names (and cached runs); runs with it keep theirs when the default changes."""
    import dataclasses

    import prac.search.naming
    from prac.config.schema import PruneConfig, digest
    from prac.search.naming import named_prune

    # search_weight_decay and search_reach: fields of their own (below)
    p = dataclasses.replace(load_config(None, []).prune, search_weight_decay=0.0, search_reach=None)
    off, on = dataclasses.replace(p, search_plateau=False), dataclasses.replace(p, search_plateau=True)
    fields = dataclasses.fields(PruneConfig)
    was = as_before(off, "search_plateau", "search_weight_decay", "search_reach")
    assert digest(*named_prune(off)) == digest(was, named_prune(off)[1])
    assert digest(*named_prune(on)) != digest(*named_prune(off))
    names = {q.search_plateau: digest(*named_prune(q)) for q in (off, on)}
    flipped = dataclasses.make_dataclass("PruneConfig", [
        (f.name, f.type, dataclasses.field(default=not f.default, metadata=f.metadata) if f.name == "search_plateau"
         else f) for f in fields], frozen=True)
    monkeypatch.setattr(prac.search.naming, "PruneConfig", flipped)
    for q in (off, on):
        assert digest(*named_prune(flipped(**dataclasses.asdict(q)))) == names[q.search_plateau]



def test_probe_fraction_names_a_run_only_when_its_probe_samples():
    """A run whose flip probe sees every sample computes what runs did before
    select.probe_fraction existed and keeps that name (and its cached run); the sampled
    probe (the default) gets a name of its own; a run that never probes ignores the field."""
    import dataclasses

    from prac.config.schema import digest
    from prac.search.naming import named_select

    s = load_config(None, []).select
    every = dataclasses.replace(s, probe_fraction=1.0)
    was = as_before(every, "probe_fraction")
    assert s.probe_fraction == 0.5
    assert digest(*named_select(every)) == digest(was)
    assert digest(*named_select(s)) != digest(was)
    for never in (dataclasses.replace(s, subset="random"), dataclasses.replace(s, reprobe="none")):
        assert digest(*named_select(never)) == digest(*named_select(dataclasses.replace(never, probe_fraction=1.0)))


def test_search_weight_decay_names_a_run_only_when_its_fine_tuning_rounds_use_it():
    """A search without it (0) computes what runs did before the field existed and keeps
    those names and cached runs; the default (0.003) gets a name of its own; a rewinding
    search (full-data IMP) never uses it, so it never enters that name."""
    import dataclasses

    from prac.config.schema import digest, non_default
    from prac.search.naming import as_started, named_prune

    p = dataclasses.replace(load_config(None, []).prune, search_reach=None)  # a field of its own (below)
    off = dataclasses.replace(p, search_weight_decay=0.0)
    was = as_before(off, "search_weight_decay", "search_reach")
    assert p.search_weight_decay == 0.003
    old = {**non_default(was), "search_plateau": True}   # how a name spelled the plateau stop then
    assert digest(*named_prune(off)) == digest(old, named_prune(off)[1])
    assert digest(*named_prune(p)) != digest(*named_prune(off))
    imp = dataclasses.replace(p, search="rewind", search_budget=None, search_extend=0, criterion="magnitude")
    assert digest(*named_prune(imp)) == digest(*named_prune(dataclasses.replace(imp, search_weight_decay=0.0)))
    assert as_started({"prune": {}})["prune"]["search_weight_decay"] == 0.0   # a run from before resumes without it


def test_search_reach_names_a_run_only_where_it_sets_the_lr():
    """Without it (null) a search computes what runs did before the field existed and keeps
    those names; the default (4) gets a name of its own; where it cannot set the lr (an
    explicit search_lr, SGD, a rewinding search, full-data IMP) it never enters the name."""
    import dataclasses

    from prac.config.schema import digest, non_default
    from prac.search.naming import as_started, named_prune

    p = load_config(None, []).prune
    assert p.search_reach == 4.0
    off = dataclasses.replace(p, search_reach=None)
    was = as_before(off, "search_reach")
    old = {**non_default(was), "search_plateau": True, "search_weight_decay": 0.003}
    assert digest(*named_prune(off)) == digest(old, named_prune(off)[1])
    assert digest(*named_prune(p)) != digest(*named_prune(off))
    assert digest(*named_prune(p)) != digest(*named_prune(dataclasses.replace(p, search_reach=8.0)))
    unused = [(dataclasses.replace(p, search_lr=1e-3), "adam"), (p, "sgd"),
              (dataclasses.replace(p, search="rewind"), "adam"),
              (dataclasses.replace(p, search="rewind", search_budget=None, search_extend=0, criterion="magnitude"), "adam")]
    for q, opt in unused:
        assert digest(*named_prune(q, opt)) == digest(*named_prune(dataclasses.replace(q, search_reach=None), opt))
    assert as_started({"prune": {}})["prune"]["search_reach"] is None   # a run from before resumes without it
