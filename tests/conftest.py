"""Shared fixtures."""

import shutil

import pytest


@pytest.fixture(scope="session")
def _tracking_template(tmp_path_factory):
    """An empty MLflow SQLite store built once per session (schema setup costs ~1.5 s)."""
    import mlflow

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def tracking_uri(_tracking_template, tmp_path):
    """A fresh, empty MLflow store for this test: sqlite:///<tmp_path>/mlruns/mlflow.db."""
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copyfile(_tracking_template, db)
    return f"sqlite:///{db}"


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def write_idx_dataset(root, folder_name, n_train, n_test, seed):
    """Write tiny random 28x28 IDX files in torchvision's raw layout: ROOT/<folder_name>/raw/{train,t10k}-*-ubyte.

    Returns (images uint8 [n_train+n_test, 28, 28], labels int64 [n_train+n_test]) in train-then-test order,
    so position i is the sample's original index.
    """
    import struct
    from pathlib import Path

    import torch

    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n_train + n_test, 28, 28), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n_train + n_test,), generator=generator)
    raw = Path(root) / folder_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for part, rows in (("train", slice(0, n_train)), ("t10k", slice(n_train, n_train + n_test))):
        for kind, array in (("images-idx3", images[rows]), ("labels-idx1", labels[rows].to(torch.uint8))):
            header = bytes([0, 0, 0x08, array.dim()]) + struct.pack(f">{array.dim()}I", *array.shape)
            (raw / f"{part}-{kind}-ubyte").write_bytes(header + array.numpy().tobytes())
    return images, labels.to(torch.int64)


@pytest.fixture
def idx_dataset(tmp_path):
    """Factory: idx_dataset(folder_name="MNIST", n_train=12, n_test=5, seed=0) -> (root, images, labels) in tmp_path."""
    root = tmp_path / "data"

    def make(folder_name="MNIST", n_train=12, n_test=5, seed=0):
        images, labels = write_idx_dataset(root, folder_name, n_train, n_test, seed)
        return root, images, labels

    return make


@pytest.fixture(scope="module")
def one_thread():
    """Tiny problems: torch's thread hand-offs cost more than the arithmetic (many times more on a busy machine)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
