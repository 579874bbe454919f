"""The zoo through the CLI: `hardness identifiers`, `benchmark --identifiers all`, noise ranking, `own`, search."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.catalogue import IDENTIFIER_ENTRIES, IDENTIFIERS
from hardness.cli import app
from hardness.identifiers import REGISTRY

runner = CliRunner()
TINY = ["--subset-size", "200", "--epochs", "30", "--set", "inversion.warmup=5", "--set", "inversion.max_retries=0"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _invoke(*args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _runs(client):
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_identifiers_json_lists_the_registry():
    listed = _invoke("identifiers")
    assert [row["name"] for row in listed] == list(IDENTIFIERS)
    assert sorted(REGISTRY) == [row["name"] for row in listed]
    for row in listed:
        entry = IDENTIFIER_ENTRIES[row["name"]]
        assert (row["kind"], row["observes"], row["cost"], row["reference"]) == tuple(entry)
    table = runner.invoke(app, ["identifiers"])
    assert table.exit_code == 0 and "datamaps_variability" in table.stdout


def test_identifiers_stays_instant_without_torch():
    code = ("import sys; from typer.testing import CliRunner; from hardness.cli import app; "
            "assert CliRunner().invoke(app, ['identifiers', '--json']).exit_code == 0; print('torch' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.strip() == "False", completed.stderr


def test_benchmark_all_runs_every_identifier_end_to_end(tracking_uri):
    summary = _invoke("benchmark", "--identifiers", "all", "--tracking-uri", tracking_uri, *TINY,
                      "--hard-sets", "2", "--inits", "1", "--set", "imbalance.train_ratios=[0.7]",
                      "--set", "imbalance.remaining=[0,1]", "--set", "benchmark.error_models=2",
                      "--set", "identifier.el2n_epoch=5", "--set", "identifier.grand_epoch=5",
                      "--set", "identifier.vog_checkpoints=3", "--set", "identifier.cleanlab_folds=2")
    headline = pd.DataFrame(summary["headline"]).set_index("identifier")
    assert sorted(headline.index) == sorted(IDENTIFIERS)
    assert headline["hard_count"].nunique() == 1  # every one thresholded to the stragglers' counts
    client = MlflowClient(tracking_uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["benchmark.identifiers"] == str(IDENTIFIERS)  # the resolved config names them all
    grids = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(run.data.tags["hardness.identifier"] for run in grids) == sorted(IDENTIFIERS)
    assert all(run.info.status == "FINISHED" for run in _runs(client))


def test_identify_under_label_noise_logs_auroc_and_auprc_per_seed_and_mean(tracking_uri):
    noisy = ["--seeds", "2", "--tracking-uri", tracking_uri, *TINY, "--set", "data.label_noise=0.1"]
    client = MlflowClient(tracking_uri)
    for name, extra in (("cleanlab", ["--set", "threshold.method=own", "--set", "identifier.cleanlab_folds=3"]),
                        ("stragglers", [])):
        summary = _invoke("identify", "--identifier", name, *noisy, *extra)
        noise = pd.DataFrame(summary["noise"])
        assert {"noise/auroc", "noise/auprc", "noise/recall"} <= set(noise.columns)
        assert noise["noise/auroc"].between(0, 1).all() and noise["noise/auprc"].between(0, 1).all()
        run = client.get_run(summary["parent_run_id"])
        assert run.data.metrics["noise/auroc_mean"] == noise["noise/auroc"].mean()
        history = client.get_metric_history(run.info.run_id, "noise/auprc")
        assert sorted(m.step for m in history) == [0, 1]
    assert noise["noise/auroc"].iloc[0] > 0.5  # the stragglers' mask catches flipped labels above chance


def test_own_threshold_for_a_score_only_identifier_is_refused_before_any_run(tracking_uri):
    result = runner.invoke(app, ["identify", "--identifier", "aum", "--tracking-uri", tracking_uri, *TINY,
                                 "--set", "threshold.method=own"])
    assert result.exit_code == 2
    assert "aum gives only scores; identifiers with their own set: cleanlab, stragglers" in result.stderr
    bench = runner.invoke(app, ["benchmark", "--identifiers", "stragglers,margin", "--tracking-uri", tracking_uri,
                                "--set", "threshold.method=own", "--json"])
    assert bench.exit_code == 2 and json.loads(bench.stdout)["exit_code"] == 2
    assert _runs(MlflowClient(tracking_uri)) == []


def test_search_tunes_the_threshold_of_a_zoo_identifier(tracking_uri, tmp_path):
    summary = _invoke("search", "--identifier", "aum", "--trials", "2", "--tracking-uri", tracking_uri,
                      "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", "--study-name", "zoo", *TINY,
                      "--set", "imbalance.hard_sets=2", "--set", "imbalance.inits=1")
    assert summary["n_trials"] == 2
    client = MlflowClient(tracking_uri)
    trials = client.search_runs([client.get_run(summary["parent_run_id"]).info.experiment_id],
                                f"tags.`mlflow.parentRunId` = '{summary['parent_run_id']}'")
    assert len(trials) == 2 and all({"fraction", "level"} <= set(run.data.params) for run in trials)
