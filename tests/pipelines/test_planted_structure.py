"""A mask against the planted one, on hand-made masks: chance levels, edge and unit recall,
per-layer densities, layer collapse."""

import pytest
import torch

from pipelines.planted_structure import chance_levels, reachability, structure


def test_chance_levels_on_a_hand_made_mask():
    planted = {"a": torch.tensor([[1, 1], [0, 0]], dtype=torch.bool),   # 2 planted of 4
               "b": torch.tensor([[1, 0], [0, 0]], dtype=torch.bool)}   # 1 planted of 4
    mask = {"a": torch.tensor([[1, 0], [0, 1]], dtype=torch.bool),      # density 1/2, 1 hit
            "b": torch.tensor([[1, 1], [1, 1]], dtype=torch.bool)}      # density 1, 1 hit
    c = chance_levels(mask, planted)
    assert c["chance_recall"] == pytest.approx((2 * 0.5 + 1 * 1.0) / 3)
    assert c["chance_precision"] == pytest.approx((2 * 0.5 + 1 * 1.0) / 6)    # 6 weights kept
    s = structure(mask, planted)
    assert s["edge_recall"] == pytest.approx(2 / 3) and s["edge_precision"] == pytest.approx(2 / 6)
    assert s["unit_recall"] == pytest.approx(1 / 2)  # a's unit lost a planted edge, b's kept its one
    assert s["layer_density_l1"] == pytest.approx(abs(0.5 - 0.5) + abs(1 - 0.25))


def test_layer_collapse_on_hand_made_masks():
    first = torch.tensor([[1, 0, 0], [0, 1, 0]], dtype=torch.bool)  # 3 inputs -> 2 units
    cut = torch.tensor([[0, 0], [0, 0], [0, 0]], dtype=torch.bool)   # nothing leaves the 2 units
    assert reachability([first, cut])["collapsed"] is True
    # edges everywhere, but no path: layer 2 reads only unit 1, which layer 1 never feeds
    a = torch.tensor([[1, 1], [0, 0]], dtype=torch.bool)
    b = torch.tensor([[0, 1], [0, 1]], dtype=torch.bool)
    r = reachability([a, b])
    assert r["collapsed"] is True and r["outputs_reached"] == 0.0 and r["effective_share"] == 0.0
    b[0, 0] = True
    r = reachability([a, b])
    assert r["collapsed"] is False and r["outputs_reached"] == 0.5 and r["effective_share"] == pytest.approx(3 / 5)
