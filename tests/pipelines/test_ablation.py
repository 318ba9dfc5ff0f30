"""The ablation table's paired comparison of each variant against the first."""

import json

import pytest

from pipelines.ablation import against_first, combined, compare, main, on_seeds
from pipelines.bench_report import headline


def _variant(val: list[float], test: list[float]) -> dict:
    rounds = [{"round": 0, "density": 1.0, "test_acc_mean": 0.9},
              {"round": 1, "density": 0.8, "test_acc_mean": sum(test) / len(test),
               "val_acc_values": val, "test_acc_values": test},
              {"round": 2, "density": 0.64, "test_acc_mean": None}]
    return {"methods": {"prac": {"rounds": rounds}}}


def test_each_variant_is_paired_with_the_first_seed_by_seed():
    rows = {"recipe": _variant([0.90, 0.93, 0.96], [0.90, 0.93, 0.96]),
            "better": _variant([0.91, 0.94, 0.965], [0.89, 0.935, 0.96]),
            "old": {"methods": {"prac": {"rounds": [{"round": 0, "density": 1.0, "test_acc_mean": 0.9},
                                                    {"round": 1, "density": 0.8, "test_acc_mean": 0.9}]}}}}
    text = against_first(rows)
    lines = text.splitlines()
    assert "| 80.0 % |" in lines[2] and "64.0" not in text          # only the retrained round
    # validation: +1, +1, +0.5 pp on every seed though the seeds spread by 3 pp; test: changes sign
    assert lines[4].startswith("| better | +0.83 [") and "ahead / -0.17 [" in lines[4]
    assert lines[4].endswith("inside the noise |")
    assert lines[5] == "| old | – |"                                 # a summary without per-seed values


def test_variants_without_prac_compare_full_data_imp_and_other_seeds_are_not_paired():
    full_only = {"methods": {"full": _variant([0.9, 0.91, 0.92], [0.9, 0.91, 0.92])["methods"]["prac"]}}
    assert "| other | +0.00 [" in against_first({"recipe": full_only, "other": full_only})
    a, b = _variant([0.9, 0.91, 0.92], [0.9, 0.91, 0.92]), _variant([0.9, 0.91, 0.92], [0.9, 0.91, 0.92])
    a["seeds"], b["seeds"] = [0, 1, 2], [3, 4, 5]
    assert "| b | not the same seeds |" in against_first({"a": a, "b": b})


def _bench(seeds: list[int], prac: dict[int, float], full: dict[int, float] | None = None) -> dict:
    """A bench.json summary: PrAC (and full-data IMP) retrained at round 1 on ``seeds``."""
    def method(acc: dict[int, float], steps: int, compute: int) -> dict:
        v = [acc[s] for s in seeds]
        return {"rounds": [{"round": 0, "density": 1.0, "test_acc_mean": 0.9},
                           {"round": 1, "density": 0.8, "test_acc_mean": sum(v) / len(v), "test_acc_std": 0.0,
                            "val_acc_mean": sum(v) / len(v), "val_acc_std": 0.0,
                            "val_acc_values": v, "test_acc_values": v}],
                "steps_total": steps, "compute": compute, "wall_seconds": steps / 100,
                "retrain_steps": 10, "retrain_seconds": 1.0}
    out = {"seeds": seeds, "methods": {"prac": method(prac, 120, 300)}}
    if full is not None:
        out["methods"]["full"] = method(full, 1000, 1000)
    return out


def test_compare_pairs_stored_benches_on_the_seeds_both_ran():
    stored = _bench([0, 1, 2, 3], {0: 0.90, 1: 0.80, 2: 0.85, 3: 0.10}, full={0: 0.89, 1: 0.81, 2: 0.84, 3: 0.95})
    new = _bench([1, 2, 0], {0: 0.91, 1: 0.81, 2: 0.86})
    text = compare({"shipped": stored, "fast": new})
    assert text.startswith("seeds [0, 1, 2]")                  # seed 3, which only the stored bench ran, is left out
    assert "| fast | +1.00 [+1.00, +1.00] ahead / +1.00" in text  # +1 pp on each seed, paired by seed, not by position
    # against the stored full-data IMP on seeds 0-2 (+1, -1, +1 for the stored PrAC; +2, 0, +2 for the new one)
    assert "| shipped | +0.33 [" in text and "| fast | +1.33 [" in text
    assert "| fast | 120 | 88.0 % | 70.0 % | 0.120 |" in text


def test_on_seeds_keeps_each_seeds_values_and_recomputes_the_mean():
    s = on_seeds(_bench([5, 6, 7], {5: 0.5, 6: 0.7, 7: 0.9}), [7, 5])
    r = s["methods"]["prac"]["rounds"][1]
    assert s["seeds"] == [7, 5] and r["val_acc_values"] == [0.9, 0.5]
    assert abs(r["val_acc_mean"] - 0.7) < 1e-12


def test_combined_puts_the_stored_full_data_imp_beside_the_new_methods_on_common_seeds():
    base = _bench([0, 1, 2], {0: 0.50, 1: 0.60, 2: 0.70}, full={0: 0.80, 1: 0.81, 2: 0.82})
    new = _bench([1, 2], {1: 0.83, 2: 0.84})
    new["methods"]["random"] = _bench([1, 2], {1: 0.80, 2: 0.80})["methods"]["prac"]
    s = combined(base, new)
    assert s["seeds"] == [1, 2] and set(s["methods"]) == {"full", "prac", "random"}
    assert s["methods"]["full"]["rounds"][1]["test_acc_values"] == [0.81, 0.82]   # the base's, on seeds 1 and 2
    assert s["methods"]["prac"]["rounds"][1]["test_acc_values"] == [0.83, 0.84]   # the new file's, not the base's
    assert abs(s["paired"]["full"][0]["test_pp"]["mean"] - 2.0) < 1e-9             # +2 pp on both seeds
    assert abs(s["random_subset_gap_pp"] - 3.5) < 1e-9
    assert abs(s["iteration_savings"] - 0.88) < 1e-12 and s["wall_ratio"] is None  # walls measured apart: none
    assert "wall ratio – (the methods' walls were measured apart)" in headline(s)


@pytest.mark.parametrize("spec, says", [
    ("v18={missing}", "cannot read bench file"),
    ("v18={not_json}", "cannot read bench file"),
    ("v18={not_bench}", "is not a bench.json of prac bench"),
    ("v18", "--compare takes NAME=bench.json"),
])
def test_compare_refuses_what_is_not_a_bench_file_in_one_line(tmp_path, monkeypatch, capsys, spec, says):
    (tmp_path / "not.json").write_text("seeds: [0]")
    (tmp_path / "other.json").write_text(json.dumps({"seeds": [0]}))
    spec = spec.format(missing=tmp_path / "none.json", not_json=tmp_path / "not.json", not_bench=tmp_path / "other.json")
    monkeypatch.setattr("sys.argv", ["ablation", "--compare", spec])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and says in err[-1] and "Traceback" not in "".join(err)
