"""Read-only views of the artifact root: cached PrAC sets and finished runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Column, Table

from prac import paths
from prac.select import cache
from prac.errors import PracError
from prac.report.account import amortised_savings
from prac.store import read_json

# piped output (a log, a test) is not cut to 80 columns: tables get 180, a line is never wrapped
_TTY = sys.stdout.isatty()
out_console = Console(highlight=False, width=None if _TTY else 180, soft_wrap=not _TTY)


def _disk_size(path: Path) -> str:
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def cache_table(out) -> None:
    found = cache.entries(out)
    if not found:
        out_console.print(f"no cached PrAC sets under {paths.prac_root(out)}; run `prac build-prac`")
        return
    table = Table("key", "dataset", "source model", "size", "fraction", "threshold", "created", "disk")
    for e in found:
        m = e.meta
        table.add_row(e.key[:16], m["dataset"], m["model"], f"{m['prac_size']:,}", f"{100 * m['prac_fraction']:.1f} %",
                      str(m["threshold"]), m["created"], _disk_size(e.path))
    out_console.print(table)
    references = cache.entries(out, paths.dense_root(out))
    if references:  # the dense networks of architectures a set was reused for (prac.search.reference)
        table = Table("dense reference", "dataset", "model", "steps", "val", "test", "created", "disk")
        for e in references:
            m, d = e.meta, e.meta["dense"]
            table.add_row(e.key[:16], m["dataset"], m["model"], f"{d['steps']:,}", f"{100 * d['val_acc']:.2f} %",
                          f"{100 * d['test_acc']:.2f} %", m["created"], _disk_size(e.path))
        out_console.print(table)


def show_entry(entry: cache.Entry) -> None:
    m = entry.meta
    out_console.print(f"[bold]PrAC set {entry.key}[/bold]  ({entry.path})")
    for k in ("dataset", "fingerprint", "model", "seed", "threshold", "train_size", "prac_size", "world_size", "created"):
        out_console.print(f"  {k}: {m[k]}")
    out_console.print(f"  fraction: {100 * m['prac_fraction']:.2f} %")
    c = m["composition"]
    out_console.print(f"  composition: hard-to-memorize only {c['hard_only']:,}, flipped only {c['flipped_only']:,}, "
                      f"both {c['both']:,}")
    d = m["dense"]
    out_console.print(f"  dense run: {d['steps']:,} steps, {d['seconds']:.1f} s, val {100 * d['val_acc']:.2f} %, "
                      f"test {100 * d['test_acc']:.2f} %")
    table = Table("class", "train", "in PrAC set", "fraction")
    for i, (a, b) in enumerate(zip(m["class_counts"], m["prac_class_counts"])):
        table.add_row(str(i), f"{a:,}", f"{b:,}", f"{100 * b / max(1, a):.1f} %")
    out_console.print(table)
    uses = entry.uses()
    if uses:
        a = amortised_savings(d["steps"], uses)
        out_console.print(f"  reused by {a['runs']} ticket searches ({', '.join(a['models'])}): {a['steps']:,} steps "
                          f"with the build and each dense reference counted once, against {a['baseline_steps']:,} for full-data IMP; "
                          f"amortised savings {100 * a['iteration_savings']:.1f} %")
    out_console.print("  config: " + json.dumps(m["config"], sort_keys=True))


def _runs(out, finished: bool = True) -> list[Path]:
    """Run folders under ``out``: finished (report.json) or, with ``finished=False``,
    started and not finished (run.json without report.json: killed or interrupted)."""
    base = paths.runs_root(out)
    if not base.is_dir():
        return []
    return sorted(d for d in base.iterdir()
                  if (d / "report.json").is_file() == finished and (finished or (d / "run.json").is_file()))


# what a benchmark writes in its folder (``prac bench --out DIR``: DIR/bench.json, DIR/lth.json, ...)
BENCH_RESULTS = ("bench.json", "lth.json", "planted.json", "speed.json")


def _bench_dirs(out) -> list[tuple[Path, list[str]]]:
    """Benchmark folders: the root itself and its sub-folders that hold a benchmark's results."""
    base = paths.root(out)
    if not base.is_dir():
        return []
    found = []
    for d in [base, *sorted(p for p in base.iterdir() if p.is_dir())]:
        names = [n for n in BENCH_RESULTS if (d / n).is_file()]
        if names:
            found.append((d, names))
    return found


def _print_runs(out, by_path: bool = False) -> int:
    """The finished runs under ``out`` as a table and the unfinished ones as lines; a run is
    named by its folder with ``by_path`` (runs of a benchmark folder). Returns how many."""
    runs, unfinished = _runs(out), _runs(out, finished=False)
    if runs:
        table = Table(Column("run", no_wrap=True), "dataset", "model", "subset", "weights left",  # run whole:
                      "ticket test acc", "winning", "savings", "wall")                   # `prac report RUN` takes it
        for d in runs:
            r = read_json(d / "report.json")
            winning = (r.get("ticket") or {}).get("winning")
            table.add_row(str(d) if by_path else d.name, r["dataset"], r["model"], str(r.get("subset", "–")),
                          f"{100 * r['final_density']:.2f} %", f"{100 * r['ticket_test_acc']:.2f} %",
                          "–" if winning is None else "yes" if winning else "no",
                          f"{100 * r['iteration_savings']:.1f} %", f"{r['wall_seconds']:.0f} s")
        out_console.print(table)
    for d in unfinished:
        saved = "a checkpoint" if (d / "checkpoint.safetensors").is_file() else "no checkpoint yet"
        out_console.print(f"unfinished: {d if by_path else d.name} ({saved}); continue with "
                          f"`prac find-ticket --resume {d}`")
    return len(runs) + len(unfinished)


def list_runs(out) -> None:
    """The runs under ``out``, then every benchmark folder under it with its runs (a benchmark
    keeps its own runs beside its results: DIR/runs/ next to DIR/bench.json)."""
    if not _print_runs(out):
        out_console.print(f"no runs under {paths.runs_root(out)}; run `prac find-ticket`")
    benches = _bench_dirs(out)
    for d, names in benches:
        files = ", ".join(str(d / n) for n in names)
        if d == paths.root(out):  # its runs are the ones above
            out_console.print(f"benchmark results: {files} (and the .md beside each)")
            continue
        out_console.print(f"benchmark {d}: {files} (and the .md beside each); its runs:")
        if not _print_runs(d, by_path=True):
            out_console.print(f"  none under {paths.runs_root(d)}")
    if not benches:
        out_console.print(f"no benchmark results under {paths.root(out)}; `prac bench --out DIR` writes "
                          "DIR/bench.json and DIR/bench.md (DIR defaults to artifacts/bench)")


def run_folder(out, run: str) -> Path:
    """A finished run's folder: a path, or a run name or unique prefix under ``out``."""
    as_path = Path(run)
    if (as_path / "report.json").is_file():
        return as_path
    matches = [d for d in _runs(out) if d.name.startswith(run)]
    if len(matches) != 1:
        paths.run_dir(out, run)  # refuses a malformed name with its own message
        raise PracError(f"{'no' if not matches else len(matches)} finished runs match '{run}' under "
                        f"{paths.runs_root(out)}; see `prac report`")
    return matches[0]


def show_run(out, run: str) -> None:
    out_console.print((run_folder(out, run) / "report.md").read_text(), markup=False)
