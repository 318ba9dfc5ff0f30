"""What report.md says the PrAC set is, on hand-made reports."""

from prac.report.markdown import set_lines

COMPOSITION = {"never_learned": 300, "forgotten": 120, "flipped": 40, "looks_mislabelled": 9, "flipped_labels": 280}


def report(subset: str, prac_size: int, subset_size: int) -> dict:
    barred = 300 if subset == "prac" else 0   # as account_for records it: the shipped selector bars the never-learned
    return {"composition": COMPOSITION, "prac_size": prac_size, "train_size": 1_000, "subset": subset,
            "subset_size": subset_size, "barred": barred}


def test_the_shipped_selector_says_it_leaves_out_the_never_learned_samples_and_the_papers_rule_does_not():
    shipped = "\n".join(set_lines(report("prac", 460, 400)))
    assert "300 never learned" in shipped and "280 carry a label flipped" in shipped
    assert "leaves out the 300 never-learned samples" in shipped
    assert "leaves out" not in "\n".join(set_lines(report("prac_paper", 460, 400)))
    assert "leaves out" not in "\n".join(set_lines(report("random", 460, 400)))


def test_a_set_too_small_for_the_budget_is_said_so_counting_only_the_samples_the_search_keeps():
    # 460 members, 300 of them barred: 160 of a 400-sample budget are the set's
    assert "160 of 400 samples are the set's" in "\n".join(set_lines(report("prac", 460, 400)))
    assert "too small" not in "\n".join(set_lines(report("prac_paper", 460, 400)))   # 460 of 400: it fills it
    assert "too small" not in "\n".join(set_lines(report("random", 10, 400)))        # a random subset is no set
