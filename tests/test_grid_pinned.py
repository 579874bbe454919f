"""Pinned benchmark path on digits: hard sets of three identifiers (confidence and energy from one shared fit) and
a small grid's metrics. The values were recorded with the code before idle models were skipped, units were planned
by work and identifications shared fits; they must stay identical."""

import hashlib

import pytest

from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.identifiers import BASELINE
from hardness.identifiers.identify import (
    group_shared_fits,
    identify_together,
    threshold_identification,
)
from hardness.studies.imbalance.grid import build_cells, evaluate_cells

OVERRIDES = ["data.subset_size=500", "train.epochs=60", "inversion.warmup=10", "inversion.max_retries=0",
             "identifier.init=fresh", "threshold.method=top_k", "threshold.k=60", "imbalance.hard_sets=2",
             "imbalance.inits=2", "imbalance.train_ratios=[0.7,0.5]", "imbalance.remaining=[0.1,0.25,0.5,1]"]
SETS = {  # sha256 prefix of each hard set's positions, then the set sizes
    "stragglers": ["e3b0c44298fc1c14", "ec640e239e5343ea", 0, 5],
    "confidence": ["e58f842bbb1f610b", "2872129c0bf2e01b", 60, 60],
    "energy": ["281223789298a4cc", "95762d44e35abf86", 60, 60],
}
MEASURES = ("acc/all", "acc/hard", "acc/easy", "f1/easy")
GRID = {  # confidence's hard sets; per cell MEASURES x inits, rounded to 9 decimals
    "h0-r0.5-f0.1": [0.732, 0.652, 0.3, 0.233333333, 0.790909091, 0.709090909, 0.773376288, 0.681176025],
    "h0-r0.5-f0.25": [0.828, 0.804, 0.4, 0.4, 0.886363636, 0.859090909, 0.867436911, 0.836164376],
    "h0-r0.5-f0.5": [0.888, 0.868, 0.4, 0.4, 0.954545455, 0.931818182, 0.953100757, 0.926059944],
    "h0-r0.5-f1": [0.928, 0.92, 0.466666667, 0.533333333, 0.990909091, 0.972727273, 0.989425118, 0.972425192],
    "h0-r0.7-f0.1": [0.786666667, 0.766666667, 0.333333333, 0.333333333,
                     0.848484848, 0.825757576, 0.841661089, 0.818950664],
    "h0-r0.7-f0.25": [0.866666667, 0.893333333, 0.388888889, 0.444444444,
                      0.931818182, 0.954545455, 0.925234014, 0.948749589],
    "h0-r0.7-f0.5": [0.88, 0.92, 0.222222222, 0.444444444, 0.96969697, 0.984848485, 0.966166667, 0.985188088],
    "h0-r0.7-f1": [0.913333333, 0.933333333, 0.388888889, 0.5, 0.984848485, 0.992424242, 0.981345622, 0.99284802],
    "h1-r0.5-f0.1": [0.728, 0.688, 0.466666667, 0.4, 0.763636364, 0.727272727, 0.740626054, 0.687117452],
    "h1-r0.5-f0.25": [0.92, 0.84, 0.666666667, 0.433333333, 0.954545455, 0.895454545, 0.948234207, 0.88720195],
    "h1-r0.5-f0.5": [0.928, 0.912, 0.6, 0.7, 0.972727273, 0.940909091, 0.968810937, 0.939607435],
    "h1-r0.5-f1": [0.948, 0.952, 0.666666667, 0.733333333, 0.986363636, 0.981818182, 0.983112742, 0.980891058],
    "h1-r0.7-f0.1": [0.766666667, 0.753333333, 0.5, 0.5, 0.803030303, 0.787878788, 0.797285748, 0.772121452],
    "h1-r0.7-f0.25": [0.84, 0.813333333, 0.5, 0.555555556, 0.886363636, 0.848484848, 0.881388165, 0.838410026],
    "h1-r0.7-f0.5": [0.913333333, 0.906666667, 0.5, 0.555555556, 0.96969697, 0.954545455, 0.972070337, 0.954729151],
    "h1-r0.7-f1": [0.933333333, 0.94, 0.555555556, 0.611111111, 0.984848485, 0.984848485, 0.986470892, 0.987358713],
}


def _digest(mask):
    return hashlib.sha256(",".join(map(str, mask.nonzero().flatten().tolist())).encode()).hexdigest()[:16]


def test_benchmark_hard_sets_and_grid_metrics_are_pinned():
    config = load_config("configs/benchmark-quick.yaml", OVERRIDES)
    dataset = load_dataset(config.data, config.seed)
    found = {}
    for group in group_shared_fits(config, list(SETS)):
        found |= identify_together(dataset, config, group, 2)
    reference = threshold_identification(dataset, config, found[BASELINE])
    sets = {name: threshold_identification(dataset, config, found[name], reference=reference) for name in SETS}
    for name, pinned in SETS.items():
        hard = sets[name].hard
        assert [_digest(row) for row in hard] + [int(row.sum()) for row in hard] == pinned, name
    cells = build_cells(config, 2)
    metrics = {result.cell.key: [round(float(v), 9) for measure in MEASURES for v in result.metrics[measure]]
               for results in evaluate_cells(dataset, config, sets["confidence"].hard, cells) for result in results}
    assert metrics.keys() == GRID.keys()
    for key, values in GRID.items():
        assert metrics[key] == pytest.approx(values, abs=1e-8), key
