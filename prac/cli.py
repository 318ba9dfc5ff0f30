"""The ``prac`` command line. The one module of the library that imports ``pipelines``.

Every sub-command that reads or writes the artifact root takes ``--out DIR`` (default
``artifacts``); ``export`` writes one file, so there ``--out`` is that file and ``--root`` the
artifact root. Commands that train take ``--config FILE_OR_NAME`` (a YAML file, or the name
of one shipped in configs/) and ``--set key=value`` overrides, checked before torch is
imported. User errors print one line on stderr and exit with status 2, without a traceback.

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
from prac.cli_bench import bench_cmd
from prac.cli_options import ConfigOpt, OutOpt, QuietOpt, SetOpt
from prac.config.identity import stale_set
from prac.config.load import load_experiment
from prac.config.show import config_yaml
from prac.errors import PracError


TORCHRUN_HELP = ("Data-parallel on K processes (one per GPU, or K CPU processes): `torchrun --nproc_per_node=K -m prac "
                 "build-prac ...` (gloo on CPU, NCCL on GPU; train.batch_size is the global batch, split across the "
                 "processes; rank 0 alone writes and prints). find-ticket and bench run the same way; a PrAC set "
                 "built on K processes is the same cache entry as one built in one process (meta.json records "
                 "world_size).")

app = typer.Typer(
    help="prac: find lottery tickets with the Pruning-Aware Critical set (PrAC set) — IMP that trains only on the "
         "samples that are hard to memorize or flip when pruned, at a fraction of full IMP's compute.\n\n"
         "Typical use: `prac build-prac --config fashion_mnist_lenet`, then `prac find-ticket --prac KEY`. With no "
         "config both run the embedded digits default (no download); `prac config` prints a configuration whole.\n\n"
         + TORCHRUN_HELP,
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
cache_app = typer.Typer(help="List, inspect and remove cached PrAC sets (<out>/prac/<key>/).",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")
app.command("bench")(bench_cmd)

def _version(value: bool) -> None:
    if value:
        from importlib import metadata

        try:
            version = metadata.version("prac")
        except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
            from prac import __version__ as version
        typer.echo(f"prac {version}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print prac's version and exit.")):
    pass


@app.command("build-prac")
def build_prac_cmd(config: Optional[Path] = ConfigOpt, set_: Optional[List[str]] = SetOpt,
                   out: Optional[Path] = OutOpt, quiet: bool = QuietOpt):
    """Train the dense network with the forgetting tracker, probe it by pruning, and cache the PrAC set.

    Prints the cache key and the folder. Running it again with the same inputs is a cache hit.

    Data-parallel: `torchrun --nproc_per_node=K -m prac build-prac ...` (gloo on CPU, NCCL on GPU;
    train.batch_size is the global batch). The set is the same cache entry as a one-process build."""
    cfg = load_experiment(config, set_ or [])  # a config error answers before torch is imported
    from prac.train import distributed
    from prac.select.build import build_set
    from prac.progress import progress_bars
    from prac.setup import from_config

    with progress_bars(not quiet) as bars:
        entry = build_set(from_config(cfg), out, bars)
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
    if resume is not None and (prac or config or set_):
        raise PracError("--resume continues a run as it was started; drop --prac, --config and --set")
    if resume is None:  # a config error answers before torch is imported (the set's own config is the base)
        base = _set_config(out, prac) if prac else None
        if prac is None or base is not None:  # an unknown --prac: cache.resolve says so below
            cfg = load_experiment(config, set_ or [], base=base)
    from prac.select import cache
    from prac.train import distributed
    from prac.select.build import build_set
    from prac.progress import progress_bars
    from prac.search.loop import run_search
    from prac.setup import from_config

    with progress_bars(not quiet) as bars:
        if resume is not None:
            from prac.search.loop import resumable

            cfg, entry, out = resumable(resume)
        elif prac is None:
            entry = build_set(from_config(cfg), out, bars)
        else:
            entry = cache.resolve(out, prac).check_current()
            if base is None:  # --prac named the set in a way the early check did not read
                cfg = load_experiment(config, set_ or [], base=entry.meta["config"])
        report = run_search(from_config(cfg), entry, out, bars)
    if distributed.is_main():
        typer.echo(f"run:  {report.get('run_dir', '')}\nticket test accuracy {100 * report['ticket_test_acc']:.2f} % "
                   f"at {100 * report['final_density']:.2f} % of weights; iteration savings "
                   f"{100 * report['iteration_savings']:.1f} %")


def _set_config(out, prac: str) -> dict | None:
    """The config a cached PrAC set was built with, read from its meta.json without torch (for
    the early config check); None when ``--prac`` names no single set (``cache.resolve`` says why later)."""
    import json

    from prac import paths

    as_path = Path(prac)
    candidates = [as_path] if (as_path / "meta.json").is_file() else []
    if not candidates and paths.KEY_RE.match(prac) and paths.prac_root(out).is_dir():
        candidates = [d for d in paths.prac_root(out).iterdir() if d.name.startswith(prac) and (d / "meta.json").is_file()]
    if len(candidates) != 1:
        return None
    try:
        meta = json.loads((candidates[0] / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        return None
    problem = stale_set(meta)  # an older set's config holds keys this prac no longer reads
    if problem:
        raise PracError(problem)
    return meta["config"]


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
def cache_rm(key: str = typer.Argument(..., help="Key or unique key prefix."), out: Optional[Path] = OutOpt,
             yes: bool = typer.Option(False, "--yes", "-y", help="Remove without asking (needed when stdin is not "
                                                                 "a terminal).")):
    """Remove one cached PrAC set, after asking on a terminal."""
    from prac.select import cache

    entry = cache.resolve(out, key)
    if not yes:
        if not sys.stdin.isatty():
            raise PracError(f"not removing PrAC set {entry.key[:16]} ({entry.path}) without a confirmation, and stdin "
                            "is not a terminal to ask on; pass --yes to remove it without asking")
        if not typer.confirm(f"remove PrAC set {entry.key[:16]} ({entry.path})?", default=False):
            typer.echo("nothing removed")
            raise typer.Exit(1)
    typer.echo(f"removed {cache.remove(out, str(entry.path))}")


@app.command("report")
def report_cmd(run: Optional[str] = typer.Argument(None, help="Run name, unique prefix, or runs/<run> folder; "
                                                              "omitted: list the runs."),
               out: Optional[Path] = OutOpt):
    """Show a run's savings report (report.md), or list the runs and the benchmarks (with their runs) under DIR."""
    from prac.report.inspect import list_runs, show_run

    if run is None:
        list_runs(out)
    else:
        show_run(out, run)


@app.command("config")
def config_cmd(config: Optional[Path] = ConfigOpt, set_: Optional[List[str]] = SetOpt,
               keys: bool = typer.Option(False, "--keys", help="Print only the settable keys, one dotted key a line.")):
    """Print the resolved configuration as YAML: every key, grouped, with its help (and its default where
    the value differs). The output is itself a config file: --config FILE reads it back."""
    if keys:
        typer.echo("\n".join(k for k, _, _ in describe_keys()))
        return
    typer.echo(config_yaml(load_experiment(config, set_ or []), config, set_ or []), nl=False)


@app.command("export")
def export_cmd(run: str = typer.Argument(..., help="Run folder (runs/<run>), or a run name or unique prefix under "
                                                    "--root."),
               out: Path = typer.Option(..., "--out", help="The ticket file to write (safetensors); unlike the "
                                                          "other commands, export's --out is this file, and --root "
                                                          "is the artifact root."),
               rewind: bool = typer.Option(False, "--rewind", help="Also store the ticket's rewind weights, so "
                                                                  "prac.load_ticket(FILE).model(trained=False) works."),
               root: Optional[Path] = typer.Option(None, "--root", help="Artifact root holding runs/ (the other "
                                                                        "commands' --out). \\[default: artifacts]")):
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


def _one_line_paragraphs(*typers: typer.Typer) -> None:
    """Each paragraph of a command's docstring on one line, so that --help wraps it at the
    terminal's width instead of at the source's line ends (mid-sentence)."""
    import inspect

    for t in typers:
        for info in t.registered_commands:
            f = info.callback
            if f is not None and f.__doc__:
                f.__doc__ = "\n\n".join(" ".join(par.split()) for par in inspect.cleandoc(f.__doc__).split("\n\n"))


_one_line_paragraphs(app, cache_app)

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
    """What an interrupted command leaves behind: the newest checkpoint file it saved or resumed
    from that is still on disk, and the command that continues it."""
    checkpoint = sys.modules.get("prac.train.checkpoint")  # not imported: nothing trained, nothing to name
    if checkpoint is None:
        return "nothing was checkpointed yet; the same command starts over"
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    return checkpoint.resume_hint(command)


def _terminate(signum, frame):
    """SIGTERM (a scheduler's pre-emption, `kill`) ends the command like Ctrl-C: the newest
    checkpoint is named with the command that continues it."""
    raise KeyboardInterrupt
