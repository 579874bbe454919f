"""The grid-speed benchmark's counted work: the plan before skipping, dense work, and the config's phases."""

from benchmarks.grid_speed import count_work, dense_work, plan_before
from hardness.config import load_config
from hardness.studies.imbalance.grid import estimate_work


def test_the_plan_before_closed_a_batch_at_twice_its_smallest_set_or_when_full():
    sizes = [250, 100, 600, 150, 180]
    assert plan_before(sizes, per_batch=30) == [[1, 3, 4], [0], [2]]
    assert plan_before(sizes, per_batch=2) == [[1, 3], [4, 0], [2]]
    assert dense_work(sizes, [[1, 3, 4], [0], [2]], inits=2) == 2 * (3 * 180 + 250 + 600)


def test_counted_work_of_a_config_per_phase():
    config = load_config(None, ["imbalance.hard_sets=2", "imbalance.inits=2", "imbalance.train_ratios=[0.5]",
                                "imbalance.remaining=[0,0.5,1]", "train.epochs=9", "benchmark.error_models=4",
                                "benchmark.error_train_size=100", "train.chunk_size=64", "inversion.warmup=1",
                                "benchmark.identifiers=[stragglers,confidence,energy]"])
    work = count_work(config, hard_fraction=0.1, n_samples=400)
    assert work["stragglers"] == (2 * 400 * 10, 2 * 400 * 10)
    assert work["confidence+energy"] == (2 * 2 * 400 * 10, 2 * 400 * 10)
    assert work["class error"] == (4 * 100 * 10,) * 2
    # each hard set: 20 hard + 180 easy training samples at ratio 0.5, so sets of 20, 110 and 200
    sizes = [20, 110, 200]
    grids_before = 3 * 2 * 10 * dense_work(sizes, [[0], [1, 2]], inits=2)
    grids_after = 3 * 2 * 10 * estimate_work(sizes, inits=2, chunk_size=64)
    assert work["grids"] == (grids_before, grids_after)
