"""`hardness.diagnose` and the diagnosis on the bundled digits with planted label errors: the flipped labels come back
as label_error with their true label suggested, and the calibrated precision matches the one measured on those
flips, which the calibration never saw (data.label_noise plants them; the copies inject their own)."""

import numpy as np
import pytest

import hardness
from hardness.config import build_config
from hardness.datasets.prepare import load_dataset
from hardness.studies.diagnose.diagnosis import diagnose_dataset
from hardness.tracking.schema import VERDICTS

QUICK = {"seeds": 3, "train": {"lr": 0.5, "epochs": 200}, "identifier": {"cleanlab_folds": 3},
         "diagnose": {"repeats": 2, "bootstrap": 50}}


@pytest.fixture(scope="module")
def planted(one_thread):
    """The diagnosis of digits with 10% of the labels flipped uniformly, and the prepared data."""
    config = build_config({**QUICK, "data": {"name": "digits", "label_noise": 0.1}})
    dataset = load_dataset(config.data, config.seed)
    return diagnose_dataset(dataset, config), dataset


def test_flipped_labels_come_back_as_label_errors_with_their_true_label(planted):
    diagnosis, dataset = planted
    table = diagnosis.table
    flipped = (table["label"] != table["clean_label"]).to_numpy()
    assert flipped.sum() == round(0.1 * dataset.n_samples)
    error = (table["verdict"] == "label_error").to_numpy()
    assert error[flipped].mean() >= 0.85  # recall of the planted flips
    caught = table[error & flipped]
    assert (caught["suggested_label"] == caught["clean_label"]).mean() >= 0.95
    assert (table.loc[error, "suggested_label"] != table.loc[error, "label"]).all()
    assert (table.loc[~error, "suggested_label"] == -1).all() and table.loc[~error, "suggested_label_prob"].isna().all()
    assert table.loc[error, "suggested_label_prob"].between(0, 1).all()


def test_estimated_precision_matches_the_held_out_flips(planted):
    diagnosis, _ = planted
    table = diagnosis.table
    error = table["verdict"] == "label_error"
    measured = (table.loc[error, "label"] != table.loc[error, "clean_label"]).mean()
    row = diagnosis.calibration.set_index("verdict").loc["label_error"]
    assert row["target_reached"] and row["estimated_precision"] >= 0.9
    assert abs(row["estimated_precision"] - measured) <= 0.08
    assert row["precision_low"] <= row["estimated_precision"] <= row["precision_high"]
    assert (table.loc[error, "estimated_precision"] == row["estimated_precision"]).all()
    assert table.loc[table["verdict"] == "easy", "estimated_precision"].isna().all()


def test_table_follows_the_contract_and_confusion_counts_every_injected_row(planted):
    diagnosis, dataset = planted
    table = diagnosis.table
    names = ("cleanlab", "aum", "datamaps", "loss", "energy")
    assert list(table.columns) == ["original_index", "label", "clean_label", "verdict", "suggested_label",
                                   "suggested_label_prob", "estimated_precision",
                                   *[f"{n}_{c}" for n in names for c in ("score", "agreement")],
                                   "label_error_prob", "outlier_prob"]
    assert table["original_index"].tolist() == dataset.index.tolist()
    assert set(table["verdict"]) <= set(VERDICTS) and sum(diagnosis.counts.values()) == dataset.n_samples
    for name in names:
        assert table[f"{name}_agreement"].isin([0, 1 / 3, 2 / 3, 1]).all()
    confusion = diagnosis.confusion.set_index("injected")
    assert list(confusion.columns) == list(VERDICTS)
    assert int(confusion.to_numpy().sum()) == 2 * dataset.n_samples  # two copies
    injected = 2 * 2 * round(0.05 * dataset.n_samples)  # two copies x (uniform + asymmetric) flips
    # fewer: some flips land on a changed image (outlier) or on a sample flipped already
    assert 0.85 * injected <= int(confusion.loc["label_error"].sum()) <= injected
    assert set(diagnosis.timings) == {"score", "calibrate", "verdicts"}


def test_api_answers_in_the_callers_order_with_ids(one_thread):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(3)
    flip = rng.choice(len(y), 100, replace=False)
    noisy = y.copy()
    noisy[flip] = (y[flip] + 1 + rng.integers(0, 9, len(flip))) % 10
    ids = np.array([f"s{i}" for i in range(len(y))])
    result = hardness.diagnose(x.reshape(-1, 8, 8), noisy, ids=ids, seeds=3, epochs=200, lr=0.5,
                               identifier__cleanlab_folds=3, repeats=2, bootstrap=20)
    table = result.table
    assert table["id"].tolist() == ids.tolist() and table["label"].tolist() == noisy.tolist()
    assert table["original_index"].tolist() == list(range(len(y)))
    error = table["verdict"] == "label_error"
    assert error[flip].mean() >= 0.85
    caught = table[error & np.isin(np.arange(len(y)), flip)]
    assert (caught["suggested_label"].to_numpy() == y[caught.index]).mean() >= 0.95
    assert result.counts["label_error"] == int(error.sum()) and result.run_id is None


def test_api_refuses_image_changes_on_features_and_diagnoses_labels_alone(one_thread):
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(-2, 1, (150, 4)), rng.normal(2, 1, (150, 4))]
    y = np.repeat([0, 1], 150)
    with pytest.raises(ValueError, match="samples are not images: set diagnose.image_types to"):
        hardness.diagnose(x, y, seeds=2, epochs=50)
    result = hardness.diagnose(x, y, seeds=2, epochs=50, image_types=[], label_types=["uniform"], label_rate=0.1,
                               repeats=2, bootstrap=20)
    assert "outlier" not in set(result.calibration["verdict"]) and result.counts["outlier"] == 0
    with pytest.raises(ValueError, match="diagnose.identifiers must hold cleanlab"):
        hardness.diagnose(x, y, diagnose__identifiers=["aum"])
    with pytest.raises(ValueError, match="target_precision"):
        hardness.diagnose(x, y, target_precision=1.5)


def test_a_recording_is_refused():
    from hardness.errors import UserError
    from hardness.studies.diagnose.calibrate import check_calibratable

    config = build_config({"data": {"name": "recording", "path": "run.npz"}})
    with pytest.raises(UserError, match="a recording .* holds logits"):
        check_calibratable(None, config)


def test_the_quality_benchmark_plants_answers_apart_from_the_calibration():
    from benchmarks.diagnose_quality import plant

    dataset = load_dataset(build_config({}).data, 0)
    planted, answers = plant(dataset)
    assert answers.atypical.sum() == round(0.02 * dataset.n_samples)
    assert answers.flipped.sum() + (answers.atypical & (planted.y != dataset.y).numpy()).sum() == round(
        0.1 * dataset.n_samples)
    assert not (answers.flipped & answers.atypical).any()
    assert (answers.original == dataset.y.numpy()).all()
