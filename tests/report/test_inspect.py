"""`prac report` with no run: the runs under the root, then every benchmark folder with its runs."""

import io
import json

import pytest
from rich.console import Console

from prac.report import inspect


def finished(run_dir, model="lenet_300_100"):
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text("{}")
    (run_dir / "report.json").write_text(json.dumps({
        "dataset": "digits", "model": model, "subset": "prac", "final_density": 0.059, "ticket_test_acc": 0.9778,
        "ticket": {"winning": True}, "iteration_savings": 0.889, "wall_seconds": 6.0}))


@pytest.fixture
def shown(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(inspect, "out_console", Console(file=buf, width=180, soft_wrap=True, highlight=False))
    return buf


def test_lists_runs_and_benchmark_runs(tmp_path, shown):
    finished(tmp_path / "runs" / "lenet_300_100-prac-aaaa")
    bench = tmp_path / "bench-fm"
    (bench / "bench.json").parent.mkdir()
    (bench / "bench.json").write_text("{}")
    finished(bench / "runs" / "conv2-full-bbbb", model="conv2")
    (bench / "runs" / "conv2-prac-cccc").mkdir()
    (bench / "runs" / "conv2-prac-cccc" / "run.json").write_text("{}")  # killed: unfinished
    (tmp_path / "lth").mkdir()
    (tmp_path / "lth" / "lth.json").write_text("{}")
    inspect.list_runs(tmp_path)
    text = shown.getvalue()
    assert "lenet_300_100-prac-aaaa" in text
    assert f"benchmark {bench}: {bench / 'bench.json'}" in text
    assert str(bench / "runs" / "conv2-full-bbbb") in text  # named by its folder: `prac report FOLDER` shows it
    assert f"unfinished: {bench / 'runs' / 'conv2-prac-cccc'} (no checkpoint yet)" in text
    assert f"benchmark {tmp_path / 'lth'}: {tmp_path / 'lth' / 'lth.json'}" in text
    assert f"none under {tmp_path / 'lth' / 'runs'}" in text
    assert "no benchmark results" not in text
    # a bench run listed by path is what `prac report RUN` takes
    assert inspect.run_folder(tmp_path, str(bench / "runs" / "conv2-full-bbbb")) == bench / "runs" / "conv2-full-bbbb"


def test_without_benchmarks_says_where_their_results_go(tmp_path, shown):
    inspect.list_runs(tmp_path)
    text = shown.getvalue()
    assert f"no runs under {tmp_path / 'runs'}" in text
    assert "`prac bench --out DIR` writes DIR/bench.json" in text


def test_a_benchmark_root_lists_its_own_results(tmp_path, shown):
    (tmp_path / "bench.json").write_text("{}")
    finished(tmp_path / "runs" / "lenet_300_100-full-dddd")
    inspect.list_runs(tmp_path)
    text = shown.getvalue()
    assert "lenet_300_100-full-dddd" in text and f"benchmark results: {tmp_path / 'bench.json'}" in text
