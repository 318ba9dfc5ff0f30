"""The ablation table's paired comparison of each variant against the first."""

from pipelines.ablation import against_first


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
