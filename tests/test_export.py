"""`hardness export`: the pure table against planted verdicts, then a benchmark run and the refusals end to end."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hardness.cli import app
from hardness.studies.export.table import (
    Flags,
    build_export_table,
    find_flagged,
    flags_from_tables,
    keep_agreeing,
    rank_hardest,
)

runner = CliRunner()
SAMPLES = pd.DataFrame({"original_index": [30, 10, 20, 40], "label": [0, 1, 0, 1], "clean_label": [0, 1, 0, 1],
                        "class_name": ["ant", "bee", "ant", "bee"]})
HARD = np.array([[True, False, True, False], [True, False, False, False], [True, True, False, False],
                 [False, False, False, False]])
SCORES = np.array([[4.0, 0.0, 2.0, 1.0], [2.0, 1.0, 0.0, 1.0], [3.0, 3.0, 1.0, 1.0], [3.0, 0.0, 1.0, 1.0]])


def _table():
    return build_export_table(SAMPLES, {"energy": Flags(HARD, SCORES)}, inversion=np.array([12.5, 30.0]))


def test_export_table_means_over_seeds_in_original_index_order():
    table = _table()
    assert table["original_index"].tolist() == [10, 20, 30, 40]
    assert list(table.columns) == ["original_index", "label", "class_name", "energy_score", "energy_agreement",
                                   "inversion_epoch"]
    row = table.set_index("original_index")
    assert row.loc[30, "energy_agreement"] == 0.75 and row.loc[30, "energy_score"] == 3.0
    assert row.loc[10, "energy_agreement"] == 0.25 and row.loc[40, "energy_agreement"] == 0.0
    assert row.loc[20, "inversion_epoch"] == 12.5 and row.loc[10, "inversion_epoch"] == 30.0


def test_clean_label_only_when_noise_changed_one():
    noisy = SAMPLES.assign(clean_label=[1, 1, 0, 1])
    assert "clean_label" in build_export_table(noisy, {"energy": Flags(HARD)})


def test_min_agreement_and_flagged_samples():
    table = _table()
    assert keep_agreeing(table, None).equals(table)
    assert keep_agreeing(table, 0.5)["original_index"].tolist() == [30]
    assert sorted(find_flagged(table, None)) == [30]  # majority by default
    assert sorted(find_flagged(table, 0.25)) == [10, 20, 30]
    assert sorted(find_flagged(table, 0.0)) == [10, 20, 30]  # flagged by no seed is never flagged


def test_rank_hardest_orders_by_agreement_then_score_per_class():
    table = build_export_table(SAMPLES, {"energy": Flags(np.ones((2, 4), bool), SCORES[:2])})
    ranked = rank_hardest(table, "energy", per_class=1)
    assert ranked[["label", "original_index", "rank"]].values.tolist() == [[0, 30, 0], [1, 40, 0]]
    two = rank_hardest(_table(), "energy", per_class=5)
    assert two["original_index"].tolist() == [30, 20, 10]  # class 1: only 10 was flagged


def test_flags_from_tables_align_ids_and_scores_with_the_samples():
    flagged = {0: pd.Series([30, 20]), 2: pd.Series([10, 30, 99])}
    scores = pd.DataFrame({"original_index": [10, 20, 30, 40], "seed_0": [0.0, 2.0, 4.0, 1.0],
                           "seed_2": [3.0, 1.0, 3.0, 1.0]})
    flags = flags_from_tables(SAMPLES, flagged, scores)
    assert flags.hard.tolist() == [[True, False, True, False], [True, True, False, False]]
    assert flags.scores.tolist() == [[4.0, 0.0, 2.0, 1.0], [3.0, 3.0, 1.0, 1.0]]


def _invoke(*args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_benchmark_exports_every_identifier_and_digits_clean_out_as_npz(tmp_path, tracking_uri):
    summary = _invoke("benchmark", "--identifiers", "stragglers,energy", "--subset-size", "300", "--epochs", "30",
                      "--hard-sets", "2", "--inits", "1", "--threads", "1", "--set", "inversion.warmup=5",
                      "--set", "inversion.max_retries=0", "--set", "imbalance.train_ratios=[0.7]",
                      "--set", "imbalance.remaining=[1]", "--set", "benchmark.error_models=2",
                      "--tracking-uri", tracking_uri)
    out = tmp_path / "bench.csv"
    exported = _invoke("export", "--run-id", summary["parent_run_id"], "--out", str(out), "--tracking-uri",
                       tracking_uri, "--clean-out", str(tmp_path / "clean"))
    table = pd.read_csv(out)
    assert exported["identifiers"] == ["stragglers", "energy"] and len(table) == 300
    assert {"stragglers_agreement", "energy_score", "energy_agreement"} <= set(table.columns)
    assert set(table["energy_agreement"].unique()) <= {0.0, 0.5, 1.0}
    # energy is thresholded like the stragglers: as many hard samples per model
    assert table["energy_agreement"].sum() == pytest.approx(table["stragglers_agreement"].sum())
    clean = np.load(exported["clean_out"])
    flagged = ((table[["stragglers_agreement", "energy_agreement"]].max(axis=1)) >= 0.5).sum()
    assert clean["x"].shape == (300 - flagged, 8, 8) and len(clean["y"]) == len(clean["index"]) == 300 - flagged
    assert not set(clean["index"]) & set(table.loc[table["energy_agreement"] >= 0.5, "original_index"])


def test_export_refuses_what_it_cannot_read(tmp_path, tracking_uri):
    summary = _invoke("run", "--subset-size", "60", "--epochs", "30", "--seeds", "1", "--threads", "1",
                      "--tracking-uri", tracking_uri)
    for args, fragment in [
        (["--run-id", "0" * 32], "not found"),
        (["--run-id", summary["child_run_ids"][0]], f"is part of run {summary['parent_run_id']}"),
        (["--run-id", summary["parent_run_id"], "--format", "xlsx"], "unknown export format 'xlsx'"),
    ]:
        result = runner.invoke(app, ["export", *args, "--tracking-uri", tracking_uri])
        assert result.exit_code == 2 and fragment in result.stderr, result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    result = runner.invoke(app, ["export", "--run-id", summary["parent_run_id"], "--tracking-uri", tracking_uri,
                                 "--clean-out", str(tmp_path / "full")])
    assert result.exit_code == 2 and "is not empty" in result.stderr
