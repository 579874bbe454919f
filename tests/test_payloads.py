"""Runs as data: points of a payload and the split of params, tags and metrics into batches within MLflow's limits."""

import math

import pytest
from mlflow.utils import validation

from hardness.tracking.payloads import BatchLimits, RunPayload, curve_stride, plan_batches, series_points, thin_curve
from hardness.tracking.tracker import BATCH_LIMITS

MLFLOW = BatchLimits(metrics=1000, params_tags=100, entities=1000)


def _metrics(n):
    return [(f"m{i % 7}", float(i), i // 7) for i in range(n)]


def _pairs(n, prefix):
    return [(f"{prefix}{i}", str(i)) for i in range(n)]


def test_the_limits_are_the_installed_mlflows():
    assert BATCH_LIMITS == MLFLOW == BatchLimits(validation.MAX_METRICS_PER_BATCH,
                                                 validation.MAX_PARAMS_TAGS_PER_BATCH,
                                                 validation.MAX_ENTITIES_PER_BATCH)


@pytest.mark.parametrize("n_metrics, calls", [(0, 0), (1, 1), (1000, 1), (1001, 2), (2500, 3), (5511, 6)])
def test_metrics_fill_batches_of_a_thousand(n_metrics, calls):
    batches = plan_batches([], [], _metrics(n_metrics), MLFLOW)
    assert len(batches) == calls
    assert [m for batch in batches for m in batch.metrics] == _metrics(n_metrics)
    assert all(len(batch.metrics) <= 1000 for batch in batches)


def test_params_and_tags_share_the_first_batch_with_metrics():
    batches = plan_batches(_pairs(76, "p"), _pairs(13, "t"), _metrics(2500), MLFLOW)
    assert [(len(b.params), len(b.tags), len(b.metrics)) for b in batches] == [(76, 13, 911), (0, 0, 1000),
                                                                                (0, 0, 589)]


def test_more_than_a_hundred_params_or_tags_are_split():
    batches = plan_batches(_pairs(250, "p"), _pairs(120, "t"), _metrics(1900), MLFLOW)
    assert [(len(b.params), len(b.tags), len(b.metrics)) for b in batches] == [(100, 100, 800), (100, 20, 880),
                                                                                (50, 0, 220)]
    for batch in batches:
        assert len(batch.params) <= 100 and len(batch.tags) <= 100
        assert len(batch.params) + len(batch.tags) + len(batch.metrics) <= 1000
    assert [p for b in batches for p in b.params] == _pairs(250, "p")
    assert [t for b in batches for t in b.tags] == _pairs(120, "t")
    assert [m for b in batches for m in b.metrics] == _metrics(1900)


def test_series_points_keep_the_step_order_and_skip_nan():
    points = series_points({"b": [3.0, math.nan, 1.0], "a": [0.5, 0.25, 0.125]}, [10, 20, 30])
    assert points == [("b", 3.0, 10), ("b", 1.0, 30), ("a", 0.5, 10), ("a", 0.25, 20), ("a", 0.125, 30)]
    with pytest.raises(ValueError, match="'a' has 1 values for 3 steps"):
        series_points({"a": [1.0]}, [0, 1, 2])


def test_a_payloads_points_are_its_series_then_its_metrics_at_step_0():
    payload = RunPayload("r", series={"loss": [2.0, 1.0]}, steps=[0, 5], metrics={"count": 3})
    assert payload.points() == [("loss", 2.0, 0), ("loss", 1.0, 5), ("count", 3.0, 0)]


def test_curves_keep_multiples_of_the_stride_and_the_last_step():
    assert thin_curve([0, 1, 2, 3, 4, 5, 6, 7], 3) == [0, 3, 6, 7]
    assert thin_curve([0, 1, 2, 3], 1) == [0, 1, 2, 3]
    assert thin_curve([0, 2, 4, 6], 4) == [0, 2, 3]
    assert thin_curve([1, 2], 5) == [1]
    assert thin_curve([], 5) == []


def test_curve_stride_defaults_to_about_a_hundred_points():
    assert curve_stride(None, 500) == 5 and curve_stride(None, 40) == 1 and curve_stride(None, 1000) == 10
    assert curve_stride(7, 500) == 7
