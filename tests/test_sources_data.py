"""Your own data (npz, csv, parquet, image folders) and CIFAR-10 on tiny files written to tmp_path: what each
source reads, the preparation rules it shares with the built-in datasets, and one line for each kind of bad data."""

import numpy as np
import pandas as pd
import pytest
import torch

from hardness.catalogue import DATASET_NAMES
from hardness.config import DataConfig, load_config
from hardness.datasets import cifar, readers
from hardness.datasets.prepare import load_dataset, read_dataset_info
from hardness.errors import UserError
from tests.sources import CLASSES, cifar10_checksums, write_cifar10, write_imagefolder, write_npz, write_table


def _load(name, path, seed=0, **fields):
    return load_dataset(DataConfig(name=name, path=str(path), **fields), seed=seed)


def test_every_catalogue_name_has_a_reader():
    assert set(readers()) == set(DATASET_NAMES)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_table_reads_text_labels_in_sorted_order_and_numeric_features(tmp_path, suffix):
    frame = write_table(tmp_path / f"t.{suffix}")
    data = _load(suffix, tmp_path / f"t.{suffix}", label_column="species")
    assert data.name == f"{suffix}:t.{suffix}" and data.class_names == CLASSES and data.n_classes == 3
    assert data.feature_names == tuple("abcd") and data.n_features == 4 and data.image_shape is None
    assert sorted(data.index.tolist()) == list(range(60))
    expected = [CLASSES.index(label) for label in frame["species"].iloc[data.index.numpy()]]
    assert data.y.tolist() == expected
    # a table is standardised per feature: every column has mean 0 and std 1
    assert torch.allclose(data.x.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(data.x.std(0, correction=0), torch.ones(4), atol=1e-5)


def test_feature_columns_choose_and_order_the_features(tmp_path):
    write_table(tmp_path / "t.csv")
    data = _load("csv", tmp_path / "t.csv", label_column="species", feature_columns=["c", "a"])
    assert data.feature_names == ("c", "a") and data.n_features == 2


def test_subset_shuffle_and_original_index_follow_the_seed(tmp_path):
    write_table(tmp_path / "t.csv")
    first = _load("csv", tmp_path / "t.csv", seed=4, label_column="species", subset_size=20)
    again = _load("csv", tmp_path / "t.csv", seed=4, label_column="species", subset_size=20)
    assert torch.equal(first.index, torch.randperm(60, generator=torch.Generator().manual_seed(4))[:20])
    assert first.fingerprint == again.fingerprint


def test_npz_features_with_ids_and_class_names(tmp_path):
    ids = np.arange(100, 160)
    x, y = write_npz(tmp_path / "d.npz", index=ids, names=np.array(["zero", "one", "two"]))
    data = _load("npz", tmp_path / "d.npz")
    assert data.class_names == ("zero", "one", "two") and data.n_features == 6 and data.image_shape is None
    assert sorted(data.index.tolist()) == ids.tolist()
    assert torch.equal(data.y, torch.from_numpy(y[data.index.numpy() - 100]))


def test_npz_integer_labels_with_gaps_get_their_values_as_names(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(8, 3)), y=np.array([3, 3, 7, 7, 9, 9, 3, 7]))
    data = _load("npz", tmp_path / "d.npz")
    assert data.n_classes == 3 and data.class_names == ("3", "7", "9")


@pytest.mark.parametrize("layout", ["nhwc", "nchw", "nhw"])
def test_npz_images_are_read_channels_first_and_standardised_as_pixels(tmp_path, layout):
    images = np.random.default_rng(1).integers(0, 256, size=(12, 3, 5, 4), dtype=np.uint8)
    stored = {"nhwc": images.transpose(0, 2, 3, 1), "nchw": images, "nhw": images[:, 0]}[layout]
    np.savez(tmp_path / "d.npz", x=stored, y=np.arange(12) % 2)
    data = _load("npz", tmp_path / "d.npz")
    expected = images[:, :1] if layout == "nhw" else images
    assert data.image_shape == expected.shape[1:]
    pixels = torch.from_numpy(expected[data.index.numpy()]).reshape(12, -1).double() / 255
    assert torch.allclose(data.x.double(), (pixels - pixels.mean()) / pixels.std(correction=0), atol=1e-5)


def test_imagefolder_keeps_files_class_names_and_sizes(tmp_path):
    root = write_imagefolder(tmp_path / "imgs", per_class=3)
    data = _load("imagefolder", root)
    assert data.name == "imagefolder:imgs" and data.class_names == CLASSES and data.image_shape == (3, 6, 5)
    files = [str(root / name / f"{i}.png") for name in CLASSES for i in range(3)]
    assert list(data.paths) == [files[i] for i in data.index.tolist()]
    assert all(CLASSES[label] in path for label, path in zip(data.y.tolist(), data.paths))
    small = _load("imagefolder", root, image_size=4, grayscale=True)
    assert small.image_shape == (1, 4, 4) and small.n_features == 16


def test_cifar10_loads_from_torchvision_layout(tmp_path, monkeypatch):
    images, labels = write_cifar10(tmp_path, per_batch=3)
    monkeypatch.setattr(cifar, "published_checksums", lambda: cifar10_checksums(tmp_path))
    data = load_dataset(DataConfig(name="cifar10", root=str(tmp_path)), seed=0)
    assert data.name == "cifar10" and data.n_samples == 18 and data.image_shape == (3, 32, 32)
    assert data.class_names[:3] == ("airplane", "automobile", "bird") and data.n_classes == 10
    assert torch.equal(data.clean_y, torch.from_numpy(labels[data.index.numpy()]))
    pixels = torch.from_numpy(images[data.index.numpy()]).reshape(18, -1).double() / 255
    assert torch.allclose(data.x.double(), (pixels - pixels.mean()) / pixels.std(correction=0), atol=1e-5)
    info = read_dataset_info(DataConfig(name="cifar10", root=str(tmp_path)))
    assert (info.n_samples, info.n_features, info.n_classes) == (18, 3072, 10)


def test_cifar10_missing_or_damaged_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(UserError, match=r"cifar10 not found in .*cifar-10-batches-py: .*data.download=true"):
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path)), seed=0)
    write_cifar10(tmp_path)
    intact = cifar10_checksums(tmp_path)
    monkeypatch.setattr(cifar, "published_checksums", lambda: intact)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:40])
    with pytest.raises(UserError, match=r"the cifar10 file .*data_batch_3 is damaged"):
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path)), seed=0)


def _table(**columns):
    return pd.DataFrame({"label": ["a", "a", "b", "b"], **columns})


@pytest.mark.parametrize("frame, fields, fragment", [
    (_table(species=["a"] * 4, x=[1, 2, 3, 4]).drop(columns="label"), {},
     "has no label column 'label' (columns: 'species', 'x'): set data.label_column"),
    (_table(x=[1.0, float("nan"), 2.0, 3.0]), {},
     "holds 1 NaN or infinite feature values in 1 samples (first: sample 1, x): drop or fill them"),
    (_table(x=["1", "2", "?", "4"]), {}, "is not numeric: 1 values are not numbers (first '?' in row 2)"),
    (_table(x=[1, 2, 3, 4], colour=["red", "red", "blue", "red"]), {"feature_columns": ["x", "colour"]},
     "data.feature_columns 'colour' of the csv file"),
    (_table(colour=["red", "red", "blue", "red"]), {}, "has no numeric feature column besides the label 'label'"),
    (pd.DataFrame({"label": ["a", "a", "b"], "x": [1, 2, 3]}), {},
     "holds fewer than 2 samples of class b (1) (samples in brackets): every class needs 2"),
    (None, {}, "missing.csv not found (data.name csv reads a file there)"),
])
def test_bad_tables_are_one_line(tmp_path, frame, fields, fragment):
    path = tmp_path / ("missing.csv" if frame is None else "bad.csv")
    if frame is not None:
        frame.to_csv(path, index=False)
    with pytest.raises(UserError) as caught:
        _load("csv", path, **fields)
    assert fragment in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_bad_npz_and_image_folders_are_one_line(tmp_path):
    np.savez(tmp_path / "x_only.npz", x=np.zeros((4, 2)))
    with pytest.raises(UserError, match="has no array y"):
        _load("npz", tmp_path / "x_only.npz")
    np.savez(tmp_path / "short.npz", x=np.zeros((4, 2)), y=np.zeros(3))
    with pytest.raises(UserError, match="4 samples in x but 3 labels in y"):
        _load("npz", tmp_path / "short.npz")
    root = write_imagefolder(tmp_path / "mixed", per_class=2, sizes={("bee", 1): (7, 5)})
    with pytest.raises(UserError, match=r"differ in size \(5x6 in .*ant/0.png, 5x7 in .*bee/1.png\): set data.image_size"):
        _load("imagefolder", root)
    assert _load("imagefolder", root, image_size=[6, 5]).image_shape == (3, 6, 5)
    with pytest.raises(UserError, match="is not a folder"):
        _load("imagefolder", root / "ant" / "0.png")


@pytest.mark.parametrize("overrides, fragment", [
    (["data.name=csv"], "data.name csv reads your own data: give its file or folder as data.path"),
    (["data.name=mnist", "data.path=x.csv"], "data.path applies to data.name npz or csv or parquet or imagefolder"),
    (["data.name=npz", "data.path=x.npz", "data.image_size=8"], "data.image_size applies to data.name imagefolder"),
    (["data.name=imagefolder", "data.path=d", "data.feature_columns=[a]"], "data.feature_columns applies to"),
    (["data.name=imagefolder", "data.path=d", "data.image_size=0"], "image_size must be positive"),
])
def test_config_refuses_options_the_source_does_not_read(overrides, fragment):
    with pytest.raises(UserError, match=fragment):
        load_config(None, overrides)
