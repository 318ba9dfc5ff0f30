"""``prac bench``: the command line's entry to the experiment harnesses in ``pipelines`` (the
one place the library imports them)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from prac.cli_options import BenchOutOpt, ConfigOpt, QuietOpt, SetOpt
from prac.config.load import config_path, load_experiment, load_transfer
from prac.errors import PracError

def bench_cmd(what: str = typer.Argument("tickets", help="tickets: full-data IMP vs PrAC vs random subset vs "
                                                         "random re-init; transfer: also the target model's tickets "
                                                         "found with the source model's PrAC set (--config is then a "
                                                         "transfer file, see configs/transfer_*.yaml; --set "
                                                         "source.KEY=V or target.KEY=V changes one side); speed: "
                                                         "engine vs a bare PyTorch loop; planted: tickets with a "
                                                         "known answer (Plant 'n' Seek): --task, --densities and "
                                                         "--methods oracle,random,shuffled,oneshot,imp,prac,"
                                                         "random_subset,synflow; writes DIR/planted.json; lth: the "
                                                         "lottery ticket experiments (early-stop step and accuracy of "
                                                         "iterative, oneshot, reinit, random_prune and prac tickets); "
                                                         "writes DIR/lth.json; profile: where one search's wall "
                                                         "goes (training, evaluations, probe, masks, checkpoints), "
                                                         "writes DIR/profile.md."),
              config: Optional[Path] = ConfigOpt, set_: Optional[List[str]] = SetOpt,
              seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds to average over (seed .. seed+K-1)."),
              methods: Optional[str] = typer.Option(None, "--methods",
                                                    help="Comma-separated subset of: full, prac, random, matched, "
                                                         "reinit (the default: these five), and the selectors "
                                                         "forgetting, el2n, ccs and prac_paper; for planted: oracle, random, "
                                                         "shuffled, oneshot, imp, prac, random_subset, synflow; for "
                                                         "lth: iterative, oneshot, reinit, random_prune, prac."),
              task: str = typer.Option("circle", "--task", help="planted: circle, helix, relu or all (helix and "
                                                                "relu are regression tasks: MSE, test MSE)."),
              densities: str = typer.Option("planted,0.01,0.1,0.5", "--densities",
                                            help="planted: weight densities; 'planted' is the planted ticket's own."),
              eval_rounds: Optional[str] = typer.Option(None, "--eval-rounds", help="Retrain only these rounds' "
                                                        "tickets, e.g. 4,8,11,13 (default: every round)."),
              out: Optional[Path] = BenchOutOpt, quiet: bool = QuietOpt):
    """Measure the savings claim side by side: every method's tickets retrained on full data and tested.

    Writes DIR/bench.json, DIR/bench.md and PNG plots (DIR defaults to artifacts/bench); with two
    or more seeds the report also gives PrAC minus each control paired by seed, with a 95 %
    interval and whether it excludes 0 (ahead, behind, inside the noise). bench lth writes
    DIR/lth.json, lth.md and plots (DIR defaults to artifacts/lth).

    Data-parallel: `torchrun --nproc_per_node=K -m prac bench ...` (gloo on CPU, NCCL on GPU;
    train.batch_size is the global batch). bench speed measures one process and refuses torchrun."""
    if what not in ("tickets", "transfer", "speed", "planted", "lth", "profile"):
        raise PracError(f"unknown benchmark '{what}'; use tickets, transfer, speed, planted, lth or profile")
    source, cfg, config = None, None, config_path(config)
    if what == "transfer":  # a config error answers before torch is imported
        if config is None:
            raise PracError("bench transfer needs --config TRANSFER_FILE; see configs/transfer_*.yaml")
        source, cfg = load_transfer(config, set_ or [])
    elif what != "planted":
        cfg = load_experiment(config, set_ or [])
    from prac.progress import progress_bars

    if what == "planted":
        from pipelines.planted import METHODS as PLANTED, run_planted

        tasks = ["circle", "helix", "relu"] if task == "all" else [t.strip() for t in task.split(",")]
        dens = [d.strip() for d in densities.split(",") if d.strip()]
        chosen = [m.strip() for m in (methods or ",".join(PLANTED)).split(",") if m.strip()]
        with progress_bars(not quiet) as bars:
            run_planted(tasks, dens, chosen, seeds, out or Path("artifacts/planted"), bars)
        return
    from pipelines.bench import DEFAULT_METHODS, run_bench, shared_root

    if what == "profile":
        import shlex
        import sys

        from pipelines import profile

        root, report_dir = shared_root(out, "profile")
        with progress_bars(not quiet) as bars:
            result = profile.run_profile(cfg, root, bars)
        profile.write(report_dir, result, "prac " + shlex.join(sys.argv[1:]))
        print(f"bench profile: {report_dir}/profile.md")
        return
    from pipelines.lth import METHODS as LTH, run_lth

    with progress_bars(not quiet) as bars:
        only = None
        if eval_rounds:
            try:
                only = {int(x) for x in eval_rounds.split(",") if x.strip()}
            except ValueError:
                raise PracError(f"--eval-rounds '{eval_rounds}' must be round numbers; use e.g. 4,8,11,13") from None
            wrong = sorted(r for r in only if not 1 <= r <= cfg.prune.rounds)
            if wrong:  # they would be skipped silently, after hours of training
                raise PracError(f"--eval-rounds names rounds {','.join(map(str, wrong))} that the search does not have; "
                                f"use numbers from 1 to prune.rounds={cfg.prune.rounds}")
        chosen = tuple(m.strip() for m in (methods or ",".join(LTH if what == "lth" else DEFAULT_METHODS)).split(",")
                       if m.strip())
        if what == "lth":
            run_lth(cfg, seeds, out, bars, chosen, only)
            return
        run_bench("tickets" if what == "transfer" else what, cfg, seeds, out, bars, chosen, only, source)
