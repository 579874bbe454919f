"""`export --clean-out`'s writers: each source's kept samples in its own format, every other column or array kept;
relative data paths mean what they meant to the run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import DataConfig
from hardness.datasets.prepare import load_dataset
from hardness.datasets.write import write_subset
from hardness.studies.export.run import locate_data
from tests.sources import write_npz, write_table


def test_parquet_keeps_the_rows_and_every_column(tmp_path):
    frame = write_table(tmp_path / "t.parquet", n=12)
    config = DataConfig(name="parquet", path=str(tmp_path / "t.parquet"), label_column="species")
    written = write_subset(config, np.array([0, 3, 4, 11]), tmp_path / "clean")
    assert written == tmp_path / "clean" / "t.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(written), frame.iloc[[0, 3, 4, 11]].reset_index(drop=True))


def test_npz_cuts_per_sample_arrays_by_their_ids_and_keeps_the_names(tmp_path):
    names = np.array(["zero", "one", "two"])
    x, y = write_npz(tmp_path / "d.npz", n=9, index=np.arange(50, 59), names=names)
    written = write_subset(DataConfig(name="npz", path=str(tmp_path / "d.npz")), np.array([50, 52, 58]), tmp_path / "c")
    with np.load(written) as clean:
        assert clean["index"].tolist() == [50, 52, 58] and np.array_equal(clean["x"], x[[0, 2, 8]])
        assert np.array_equal(clean["y"], y[[0, 2, 8]]) and clean["names"].tolist() == names.tolist()


def test_builtin_digits_become_an_npz_that_reads_back(tmp_path):
    written = write_subset(DataConfig(), np.arange(0, 1797, 3), tmp_path / "clean")
    data = load_dataset(DataConfig(name="npz", path=str(written)), seed=0)
    assert written.name == "digits.npz" and data.n_samples == 599 and data.image_shape == (1, 8, 8)
    assert sorted(data.index.tolist()) == list(range(0, 1797, 3))


def test_clean_out_reads_a_relative_data_path_where_the_run_found_it(tmp_path, tracking_uri, monkeypatch):
    """The run read data.csv relative to its folder; export, run from another folder, finds the same file."""
    runner = CliRunner()
    started, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    started.mkdir()
    elsewhere.mkdir()
    write_table(started / "data.csv")
    monkeypatch.chdir(started)
    identified = runner.invoke(app, ["identify", "--identifier", "confidence", "--dataset", "csv", "--data-path",
                                     "data.csv", "--set", "data.label_column=species", "--seeds", "2", "--epochs",
                                     "30", "--set", "inversion.warmup=2", "--tracking-uri", tracking_uri, "--json"])
    assert identified.exit_code == 0, identified.output
    monkeypatch.chdir(elsewhere)
    exported = runner.invoke(app, ["export", "--run-id", json.loads(identified.stdout)["parent_run_id"],
                                   "--tracking-uri", tracking_uri, "--clean-out", "clean", "--json"])
    assert exported.exit_code == 0, exported.output
    summary = json.loads(exported.stdout)
    assert Path(summary["clean_out"]).resolve() == elsewhere / "clean" / "data.csv"
    cleaned = load_dataset(DataConfig(name="csv", path=summary["clean_out"], label_column="species"), 0)
    assert cleaned.n_samples == summary["n_clean"] < 60


def test_locate_data_rebases_only_relative_paths_onto_the_recorded_source():
    relative = DataConfig(name="csv", path="data.csv")
    assert locate_data(relative, "/runs/here/data.csv").path == "/runs/here/data.csv"
    assert locate_data(relative, float("nan")) == relative  # a run from before the tag
    absolute = DataConfig(name="csv", path="/mine/data.csv")
    assert locate_data(absolute, "/elsewhere/data.csv") == absolute
    assert locate_data(DataConfig(name="mnist"), "/shared/data").root == "/shared/data"
    assert locate_data(DataConfig(), "sklearn.datasets.load_digits") == DataConfig()
