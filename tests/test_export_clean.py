"""`export --clean-out`'s writers: each source's kept samples in its own format, every other column or array kept."""

import numpy as np
import pandas as pd

from hardness.config import DataConfig
from hardness.data import load_dataset
from hardness.datasets.write import write_subset
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
