"""The ``prac`` command line. The one module of the library that imports ``pipelines``.

Every sub-command takes ``--out DIR`` (the artifact root, default ``artifacts``),
``--config FILE`` (YAML, see configs/) and ``--set key=value`` overrides where it trains.
User errors print one line on stderr and exit with status 2, without a traceback.

``torchrun --nproc_per_node=K -m prac build-prac ...`` (find-ticket, bench) runs the same
command data-parallel over K processes: ``main()`` joins torchrun's process group first
(``prac.distributed``: gloo on CPU, NCCL on GPU) and leaves it at exit.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import List, Optional

import typer

from prac import cache, distributed
from prac.config import describe_keys, load_config, load_transfer
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
    from pipelines.build_prac import build_prac
    from prac.progress import progress_bars

    cfg = load_config(config, set_ or [])
    with progress_bars(not quiet) as bars:
        entry = build_prac(cfg, out, bars)
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
    from pipelines.build_prac import build_prac
    from pipelines.find_ticket import find_ticket
    from prac.progress import progress_bars

    with progress_bars(not quiet) as bars:
        if resume is not None:
            if prac or config or set_:
                raise PracError("--resume continues a run as it was started; drop --prac, --config and --set")
            from pipelines.find_ticket import resumable

            cfg, entry, out = resumable(resume)
        elif prac is None:
            cfg = load_config(config, set_ or [])
            entry = build_prac(cfg, out, bars)
        else:
            entry = cache.resolve(out, prac)
            cfg = load_config(config, set_ or [], base=entry.meta["config"])
        report = find_ticket(cfg, entry, out, bars)
    if distributed.is_main():
        typer.echo(f"run:  {report.get('run_dir', '')}\nticket test accuracy {100 * report['ticket_test_acc']:.2f} % "
                   f"at {100 * report['final_density']:.2f} % of weights; iteration savings "
                   f"{100 * report['iteration_savings']:.1f} %")


@cache_app.command("ls")
def cache_ls(out: Optional[Path] = OutOpt):
    """A table of the cached PrAC sets."""
    from pipelines.inspect import cache_table

    cache_table(out)


@cache_app.command("show")
def cache_show(key: str = typer.Argument(..., help="Key, unique key prefix, or prac/<key> folder."),
               out: Optional[Path] = OutOpt):
    """The meta of one PrAC set, its composition and per-class counts."""
    from pipelines.inspect import show_entry

    show_entry(cache.resolve(out, key))


@cache_app.command("rm")
def cache_rm(key: str = typer.Argument(..., help="Key or unique key prefix."), out: Optional[Path] = OutOpt):
    """Remove one cached PrAC set."""
    typer.echo(f"removed {cache.remove(out, key)}")


@app.command("report")
def report_cmd(run: Optional[str] = typer.Argument(None, help="Run name, unique prefix, or runs/<run> folder; "
                                                              "omitted: list the runs."),
               out: Optional[Path] = OutOpt):
    """Show a run's savings report (report.md), or list the finished runs."""
    from pipelines.inspect import list_runs, show_run

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
                                                         "engine vs a bare PyTorch loop."),
              config: Optional[Path] = ConfigOpt, set_: Optional[List[str]] = SetOpt,
              seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds to average over (seed .. seed+K-1)."),
              methods: str = typer.Option("full,prac,random,matched,reinit", "--methods",
                                          help="Comma-separated subset of: full, prac, random, matched, reinit."),
              eval_rounds: Optional[str] = typer.Option(None, "--eval-rounds", help="Retrain only these rounds' "
                                                        "tickets, e.g. 4,8,11,13 (default: every round)."),
              out: Optional[Path] = OutOpt, quiet: bool = QuietOpt):
    """Measure the savings claim side by side: every method's tickets retrained on full data and tested.

    Writes DIR/bench.json, DIR/bench.md and PNG plots (DIR defaults to artifacts/bench).

    Data-parallel: `torchrun --nproc_per_node=K -m prac bench ...` (gloo on CPU, NCCL on GPU;
    train.batch_size is the global batch). bench speed measures one process and refuses torchrun."""
    from pipelines.bench import run_bench
    from prac.progress import progress_bars

    if what not in ("tickets", "transfer", "speed"):
        raise PracError(f"unknown benchmark '{what}'; use tickets, transfer or speed")
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
        run_bench("tickets" if what == "transfer" else what, cfg, seeds, out, bars,
                  tuple(m.strip() for m in methods.split(",") if m.strip()), only, source)


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
    where = ""
    try:
        distributed.init_from_env()
        where = f"[rank {distributed.rank()}] " if distributed.active() else ""
        # not standalone: click's usage errors come back here and get the same one-line form as ours
        code = app(standalone_mode=False)
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
        distributed.destroy()
    if code == 130:  # typer turns Ctrl-C into exit code 130
        print("interrupted", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
