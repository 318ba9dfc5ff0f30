"""The ``prac`` command line. The one module of the library that imports ``pipelines``.

Every sub-command takes ``--out DIR`` (the artifact root, default ``artifacts``),
``--config FILE`` (YAML, see configs/) and ``--set key=value`` overrides where it trains.
User errors print one line on stderr and exit with status 2, without a traceback.

``torchrun --nproc_per_node=K -m prac build-prac ...`` (find-ticket, bench) runs the same
command data-parallel over K processes: ``main()`` joins torchrun's process group first
(``prac.train.distributed``: gloo on CPU, NCCL on GPU) and leaves it at exit.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer

# nothing here imports torch (about 1.5 s): `prac --help` answers at once, and each command
# imports what it needs when it runs
from prac.config.schema import describe_keys
from prac.config.load import load_config, load_transfer
from prac.errors import PracError

KEYS_HELP = "Settable keys (--set key=value): " + ", ".join(k for k, _, _ in describe_keys()) + "."
TORCHRUN_HELP = ("Data-parallel on K processes (one per GPU, or K CPU processes): `torchrun --nproc_per_node=K -m prac "
                 "build-prac ...` (gloo on CPU, NCCL on GPU; train.batch_size is the global batch, split across the "
                 "processes; rank 0 alone writes and prints). find-ticket and bench run the same way; a PrAC set "
                 "built on K processes is the same cache entry as one built in one process (meta.json records "
                 "world_size).")

app = typer.Typer(
    help="prac: find lottery tickets with the Pruning-Aware Critical set (PrAC set) — IMP that trains only on the "
         "samples that are hard to memorize or flip when pruned, at a fraction of full IMP's compute.\n\n"
         "Typical use: `prac build-prac --config configs/fashion_mnist_lenet.yaml`, then "
         "`prac find-ticket --prac KEY`. With no config both run the embedded digits default (no download).\n\n"
         + TORCHRUN_HELP,
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
cache_app = typer.Typer(help="List, inspect and remove cached PrAC sets (<out>/prac/<key>/).",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML experiment file (see configs/); default: digits + LeNet.")
SetOpt = typer.Option(None, "--set", "-s", help="Override a config value, e.g. --set train.lr=0.01 (repeatable). "
                                               + KEYS_HELP)
OutOpt = typer.Option(None, "--out", help="Artifact root: PrAC sets go to DIR/prac/<key>/, runs to DIR/runs/<run>/ "
                                          "[default: artifacts].")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bars.")


@app.command("build-prac")
def build_prac_cmd(config: Optional[Path] = ConfigOpt, set_: Optional[List[str]] = SetOpt,
                   out: Optional[Path] = OutOpt, quiet: bool = QuietOpt):
    """Train the dense network with the forgetting tracker, probe it by pruning, and cache the PrAC set.

    Prints the cache key and the folder. Running it again with the same inputs is a cache hit.

    Data-parallel: `torchrun --nproc_per_node=K -m prac build-prac ...` (gloo on CPU, NCCL on GPU;
    train.batch_size is the global batch). The set is the same cache entry as a one-process build."""
    from prac.train import distributed
    from prac.select.build import build_prac
    from prac.progress import progress_bars
    from prac.setup import from_config

    cfg = load_config(config, set_ or [])
    with progress_bars(not quiet) as bars:
        entry = build_prac(from_config(cfg), out, bars)
    if distributed.is_main():
        typer.echo(f"key:  {entry.key}\npath: {entry.path}")


@app.command("find-ticket")
def find_ticket_cmd(prac: Optional[str] = typer.Option(None, "--prac", help="PrAC set: a key, a unique key prefix, "
                                                       "or a prac/<key> folder. Default: build (or reuse) the set of "
                                                       "this config first."),
                    config: Optional[Path] = ConfigOpt, set_: Optional[List[str]] = SetOpt,
                    out: Optional[Path] = OutOpt, quiet: bool = QuietOpt,
                    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the interrupted run in "
                                                          "this runs/<run> folder from its newest checkpoint (the "
                                                          "same command as before does the same).")):
    """Search a ticket by IMP that trains only on the PrAC set; retrain it on the full data and report savings.

    With --prac, the set's own config (dataset, model, training, seed) is the base, and --config / --set
    change it: e.g. --set model.name=conv2 reuses a LeNet-built set for another architecture. Writes
    DIR/runs/<run>/ with ticket.safetensors (masks + rewind weights), masks.safetensors (every round),
    report.json and report.md. A run checkpoints every epoch and round: if it is killed, the same command
    (or --resume DIR/runs/<run>) continues it and ends with the same ticket, bit for bit.

    Data-parallel: `torchrun --nproc_per_node=K -m prac find-ticket ...` (gloo on CPU, NCCL on GPU;
    train.batch_size is the global batch; masks are computed on rank 0 and shared)."""
    from prac.select import cache
    from prac.train import distributed
    from prac.select.build import build_prac
    from prac.progress import progress_bars
    from prac.search.loop import find_ticket
    from prac.setup import from_config

    with progress_bars(not quiet) as bars:
        if resume is not None:
            if prac or config or set_:
                raise PracError("--resume continues a run as it was started; drop --prac, --config and --set")
            from prac.search.loop import resumable

            cfg, entry, out = resumable(resume)
        elif prac is None:
            cfg = load_config(config, set_ or [])
            entry = build_prac(from_config(cfg), out, bars)
        else:
            entry = cache.resolve(out, prac)
            cfg = load_config(config, set_ or [], base=entry.meta["config"])
        report = find_ticket(from_config(cfg), entry, out, bars)
    if distributed.is_main():
        typer.echo(f"run:  {report.get('run_dir', '')}\nticket test accuracy {100 * report['ticket_test_acc']:.2f} % "
                   f"at {100 * report['final_density']:.2f} % of weights; iteration savings "
                   f"{100 * report['iteration_savings']:.1f} %")


@cache_app.command("ls")
def cache_ls(out: Optional[Path] = OutOpt):
    """A table of the cached PrAC sets."""
    from prac.report.inspect import cache_table

    cache_table(out)


@cache_app.command("show")
def cache_show(key: str = typer.Argument(..., help="Key, unique key prefix, or prac/<key> folder."),
               out: Optional[Path] = OutOpt):
    """The meta of one PrAC set, its composition and per-class counts."""
    from prac.report.inspect import show_entry
    from prac.select import cache

    show_entry(cache.resolve(out, key))


@cache_app.command("rm")
def cache_rm(key: str = typer.Argument(..., help="Key or unique key prefix."), out: Optional[Path] = OutOpt):
    """Remove one cached PrAC set."""
    from prac.select import cache

    typer.echo(f"removed {cache.remove(out, key)}")


@app.command("report")
def report_cmd(run: Optional[str] = typer.Argument(None, help="Run name, unique prefix, or runs/<run> folder; "
                                                              "omitted: list the runs."),
               out: Optional[Path] = OutOpt):
    """Show a run's savings report (report.md), or list the finished runs."""
    from prac.report.inspect import list_runs, show_run

    if run is None:
        list_runs(out)
    else:
        show_run(out, run)


@app.command("bench")
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
                                                         "writes DIR/lth.json."),
              config: Optional[Path] = ConfigOpt, set_: Optional[List[str]] = SetOpt,
              seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds to average over (seed .. seed+K-1)."),
              methods: Optional[str] = typer.Option(None, "--methods",
                                                    help="Comma-separated subset of: full, prac, random, matched, "
                                                         "reinit [default: all of them]; for planted: oracle, random, "
                                                         "shuffled, oneshot, imp, prac, random_subset, synflow; for "
                                                         "lth: iterative, oneshot, reinit, random_prune, prac."),
              task: str = typer.Option("circle", "--task", help="planted: circle, helix, relu or all (helix and "
                                                                "relu are regression tasks: MSE, test MSE)."),
              densities: str = typer.Option("planted,0.01,0.1,0.5", "--densities",
                                            help="planted: weight densities; 'planted' is the planted ticket's own."),
              eval_rounds: Optional[str] = typer.Option(None, "--eval-rounds", help="Retrain only these rounds' "
                                                        "tickets, e.g. 4,8,11,13 (default: every round)."),
              out: Optional[Path] = OutOpt, quiet: bool = QuietOpt):
    """Measure the savings claim side by side: every method's tickets retrained on full data and tested.

    Writes DIR/bench.json, DIR/bench.md and PNG plots (DIR defaults to artifacts/bench); with two
    or more seeds the report also gives PrAC minus each control paired by seed, with a 95 %
    interval and whether it excludes 0 (ahead, behind, inside the noise). bench lth writes
    DIR/lth.json, lth.md and plots (DIR defaults to artifacts/lth).

    Data-parallel: `torchrun --nproc_per_node=K -m prac bench ...` (gloo on CPU, NCCL on GPU;
    train.batch_size is the global batch). bench speed measures one process and refuses torchrun."""
    from prac.progress import progress_bars

    if what not in ("tickets", "transfer", "speed", "planted", "lth"):
        raise PracError(f"unknown benchmark '{what}'; use tickets, transfer, speed, planted or lth")
    if what == "planted":
        from pipelines.planted import METHODS as PLANTED, run_planted

        tasks = ["circle", "helix", "relu"] if task == "all" else [t.strip() for t in task.split(",")]
        dens = [d.strip() for d in densities.split(",") if d.strip()]
        chosen = [m.strip() for m in (methods or ",".join(PLANTED)).split(",") if m.strip()]
        with progress_bars(not quiet) as bars:
            run_planted(tasks, dens, chosen, seeds, out or Path("artifacts/planted"), bars)
        return
    from pipelines.bench import METHODS, run_bench
    from pipelines.lth import METHODS as LTH, run_lth

    source = None
    if what == "transfer":
        if config is None:
            raise PracError("bench transfer needs --config TRANSFER_FILE; see configs/transfer_*.yaml")
        source, cfg = load_transfer(config, set_ or [])
    else:
        cfg = load_config(config, set_ or [])
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
        chosen = tuple(m.strip() for m in (methods or ",".join(LTH if what == "lth" else METHODS)).split(",")
                       if m.strip())
        if what == "lth":
            run_lth(cfg, seeds, out, bars, chosen, only)
            return
        run_bench("tickets" if what == "transfer" else what, cfg, seeds, out, bars, chosen, only, source)


@app.command("export")
def export_cmd(run: str = typer.Argument(..., help="Run folder (runs/<run>), or a run name or unique prefix under "
                                                    "--root."),
               out: Path = typer.Option(..., "--out", help="The ticket file to write (safetensors)."),
               rewind: bool = typer.Option(False, "--rewind", help="Also store the ticket's rewind weights, so "
                                                                  "prac.load_ticket(FILE).model(trained=False) works."),
               root: Optional[Path] = typer.Option(None, "--root", help="Artifact root holding runs/ [default: "
                                                                        "artifacts].")):
    """Write a finished run's trained sparse network as one compact file.

    Per layer, the surviving values plus the mask as bits or as indices, whichever is smaller;
    a header names the architecture and its prunable layers. `prac.load_ticket(FILE)` rebuilds
    a dense-shaped model that predicts exactly what the run's model predicts (a model of your
    own needs its model_fn=...). Prints the file's size against a dense safetensors file."""
    from prac.report.inspect import run_folder
    from prac.api import load_ticket

    ticket = load_ticket(run_folder(root, run), model_fn=_no_model_fn)
    if out.is_dir():
        raise PracError(f"--out {out} is a folder; give the file to write, e.g. --out {out / 'ticket.safetensors'}")
    sizes = ticket.export(out, rewind=rewind)
    typer.echo(f"wrote {out}: {sizes['bytes']:,} bytes against {sizes['dense_bytes']:,} for the dense "
               f"safetensors file ({sizes['bytes'] / sizes['dense_bytes']:.3f}x) at "
               f"{100 * ticket.density:.2f} % of the weights")


def _no_model_fn():
    raise PracError("this run is of a model of your own; export it from Python: "
                    "prac.load_ticket(RUN, model_fn=...).export(FILE)")


# errno -> (what went wrong, what to do) for the operating system's errors a user can fix
_OS_ERRORS = {
    errno.ENOSPC: ("the disk is full", "free some space or choose another --out"),
    getattr(errno, "EDQUOT", errno.ENOSPC): ("the disk quota is used up", "free some space or choose another --out"),
    errno.EROFS: ("the file system is read-only", "choose another --out"),
    errno.EACCES: ("permission denied", "fix its permissions or choose another --out"),
    errno.EPERM: ("permission denied", "fix its permissions or choose another --out"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another --out"),
}
# click's exception base, wherever this typer keeps click (vendored in typer >= 0.20)
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit status 2. Under
    torchrun it joins the process group first and leaves it at exit; errors name the rank."""
    where, group, finished = "", None, False
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun's environment; one process skips torch here
            from prac.train import distributed as group

            group.init_from_env()
            where = f"[rank {group.rank()}] " if group.active() else ""
        # not standalone: click's usage errors come back here and get the same one-line form as ours
        code = app(standalone_mode=False)
        finished = True
    except _CLICK_ERROR as e:
        if type(e).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
            ctx = getattr(e, "ctx", None)
            what = " ".join(e.format_message().split())
            print(f"{where}error: {what}; see `{ctx.command_path if ctx else 'prac'} --help`", file=sys.stderr)
        sys.exit(e.exit_code)
    except PracError as e:
        print(f"{where}error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        what, fix = _OS_ERRORS.get(e.errno, (e.strerror or str(e), "check the path or choose another --out"))
        verb = "write" if e.errno in (errno.ENOSPC, errno.EROFS) else "access"
        print(f"{where}error: cannot {verb} {e.filename or 'a file'}: {what}; {fix}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    finally:
        if group is not None:  # leave the process group this call joined (all ranks together after a normal end)
            group.destroy(sync=finished)
    if code == 130:  # typer turns Ctrl-C into exit code 130
        print(f"{where}interrupted; {_resume_hint()}", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)


def _resume_hint() -> str:
    """What an interrupted command leaves behind (a checkpoint, if it got that far)."""
    checkpoint = sys.modules.get("prac.train.checkpoint")  # not imported: nothing trained, nothing to name
    return checkpoint.resume_hint() if checkpoint else "nothing was checkpointed yet; the same command starts over"


def _terminate(signum, frame):
    """SIGTERM (a scheduler's pre-emption, `kill`) ends the command like Ctrl-C: the newest
    checkpoint is named with the command that continues it."""
    raise KeyboardInterrupt
