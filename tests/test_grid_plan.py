"""Grid units planned by work: whole (hard set, train ratio) groups, their nested cells by size, largest work first."""

import torch

from hardness.config import load_config
from hardness.engine.resources import grid_models
from hardness.studies.imbalance.grid import (
    Cell,
    estimate_work,
    plan_batches,
    plan_units,
)
from hardness.studies.imbalance.splits import build_train_masks

FRACTIONS = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 1]


def test_work_counts_the_models_each_chunk_trains():
    # union 40 in chunks of 16: [0,16) all 3 cells, [16,32) the sets of 25 and 40, [32,40) only 40; 2 models each
    assert estimate_work([10, 25, 40], inits=2, chunk_size=16) == 2 * (3 * 16 + 2 * 16 + 1 * 8)
    assert estimate_work([40, 10, 25], inits=2, chunk_size=16) == 176
    assert estimate_work([16, 16], inits=3, chunk_size=16) == 3 * 2 * 16
    assert estimate_work([], inits=3, chunk_size=16) == 0


def test_a_batch_is_a_whole_group_by_size_with_the_most_work_first():
    cells = [Cell(h, r, f) for h in range(2) for r in (0.9, 0.5) for f in FRACTIONS]
    sizes = [round(c.train_ratio * (2000 + c.remaining * 18000)) for c in cells]
    plan = plan_batches(cells, sizes, max_models=150, inits=5, chunk_size=1024)
    assert sorted(i for batch in plan for i in batch) == list(range(len(cells)))
    assert len(plan) == 4
    for batch in plan:
        assert len({(cells[i].hard_set, cells[i].train_ratio) for i in batch}) == 1
        assert [sizes[i] for i in batch] == sorted(sizes[i] for i in batch)
    work = [estimate_work([sizes[i] for i in batch], inits=5, chunk_size=1024) for batch in plan]
    assert work == sorted(work, reverse=True)
    assert {cells[plan[0][0]].train_ratio, cells[plan[1][0]].train_ratio} == {0.9}


def test_a_group_past_max_models_splits_into_the_fewest_equal_runs():
    cells = [Cell(0, 0.7, f) for f in FRACTIONS]
    sizes = [100 + 10 * i for i in range(9)]
    assert sorted(len(b) for b in plan_batches(cells, sizes, max_models=20, inits=5, chunk_size=64)) == [3, 3, 3]
    runs = plan_batches(cells, sizes, max_models=35, inits=5, chunk_size=64)
    assert sorted(sorted(batch) for batch in runs) == [[0, 1, 2, 3], [4, 5, 6, 7, 8]]


def test_units_keep_nested_masks_in_size_order_and_grid_models_bounds_them():
    config = load_config(None, ["imbalance.inits=2", "imbalance.models_per_batch=150",
                                "imbalance.train_ratios=[0.7]", "imbalance.remaining=[0,0.5,1]"])
    hard = torch.zeros(2, 50, dtype=torch.bool)
    hard[0, :10], hard[1, 20:35] = True, True
    cells = [Cell(h, 0.7, f) for h in range(2) for f in (1.0, 0.0, 0.5)]
    units = plan_units(config, hard, cells)
    assert len(units) == 2 and all(len(unit.cells) == 3 for unit in units)
    for unit in units:
        masks = build_train_masks(list(unit.splits), 50)
        assert [cell.remaining for cell in unit.cells] == [0.0, 0.5, 1.0]
        assert all(bool((masks[k] <= masks[k + 1]).all()) for k in range(len(masks) - 1))  # nested
    assert grid_models(config) == 3 * 2
    assert grid_models(config, 1) == 2
