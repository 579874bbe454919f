"""Guarantees on bad and unsafe input files: each is refused with one line (exit 2) before any run is created, and
nothing in them is executed or read past what its headers declare."""

import ast
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hardness.datasets import cifar
from hardness.errors import ExitCode
from tests.faults.guarantees import TINY, assert_one_line, invoke, runs_of
from tests.sources import cifar10_checksums, write_cifar10, write_imagefolder, write_npz, write_table

PACKAGE = Path(__file__).parents[2] / "hardness"


class _Planted:
    """Unpickling this creates the file `marker`: proof that code in a pickle ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def fresh(tmp_path):
    return f"sqlite:///{tmp_path}/store/mlflow.db"


def test_a_crafted_cifar10_batch_is_refused_before_it_is_unpickled(tmp_path, monkeypatch):
    write_cifar10(tmp_path)
    intact = cifar10_checksums(tmp_path)
    monkeypatch.setattr(cifar, "published_checksums", lambda: intact)
    marker = tmp_path / "code-ran"
    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(_Planted(marker)))
    uri = fresh(tmp_path)
    result = invoke("run", "--dataset", "cifar10", "--data-root", tmp_path, "--tracking-uri", uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "data_batch_2", "not the published one")
    assert not marker.exists() and runs_of(uri) == []


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            yield node, f"{node.func.value.id}.{node.func.attr}", {k.arg: k.value for k in node.keywords}


def test_nothing_user_supplied_reaches_pickle_or_torch_load():
    """Only cifar's reader unpickles (after its checksum check); torch.load only with weights_only=True; np.load never
    with allow_pickle=True."""
    unpickling = []
    for path in PACKAGE.rglob("*.py"):
        for node, name, keywords in _calls(ast.parse(path.read_text())):
            if name in ("pickle.load", "pickle.loads", "pickle.Unpickler", "dill.load", "joblib.load"):
                unpickling.append(path.relative_to(PACKAGE).as_posix())
            if name == "torch.load":
                flag = keywords.get("weights_only")
                assert isinstance(flag, ast.Constant) and flag.value is True, f"{path}:{node.lineno}"
            if name == "np.load" and "allow_pickle" in keywords:
                assert getattr(keywords["allow_pickle"], "value", None) is False, f"{path}:{node.lineno}"
    assert unpickling == ["datasets/cifar.py"]
    source = (PACKAGE / "datasets" / "cifar.py").read_text()
    assert source.index("check_published(folder / name)") < source.index("_unpickle(folder / name)")


def test_a_link_loop_in_an_image_folder_is_refused(tmp_path):
    root = write_imagefolder(tmp_path / "images")
    os.symlink(root, root / "cat" / "loop")
    uri = fresh(tmp_path)
    result = invoke("run", "--dataset", "imagefolder", "--data-path", root, "--tracking-uri", uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "link(s) to folders", "loop")
    assert runs_of(uri) == []


def test_a_decompression_bomb_image_is_bad_input(tmp_path, monkeypatch):
    from PIL import Image

    root = write_imagefolder(tmp_path / "images")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # Pillow's own guard, tripped by 6x5 images (over 2 x 10)
    uri = fresh(tmp_path)
    result = invoke("run", "--dataset", "imagefolder", "--data-path", root, "--tracking-uri", uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "cannot read the image", "decompression bomb")
    assert runs_of(uri) == []


@pytest.mark.parametrize("source", ["csv", "npz"])
def test_data_without_feature_columns_is_refused(tmp_path, source):
    if source == "csv":
        path, extra = tmp_path / "data.csv", ["--set", "data.feature_columns=[]", "--set", "data.label_column=species"]
        write_table(path, n=300)
    else:
        path, extra = tmp_path / "data.npz", []
        np.savez(path, x=np.zeros((60, 0), dtype=np.float32), y=np.arange(60) % 3)
    uri = fresh(tmp_path)
    result = invoke("run", "--dataset", source, "--data-path", path, "--tracking-uri", uri, *TINY, *extra)
    assert_one_line(result, ExitCode.BAD_INPUT, "no features")
    assert runs_of(uri) == []


def test_a_parquet_label_column_of_lists_is_refused(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"a": np.arange(40.0), "label": [[i % 2, 1] for i in range(40)]}).to_parquet(path)
    result = invoke("run", "--dataset", "parquet", "--data-path", path, "--set", "data.label_column=label",
                    "--tracking-uri", fresh(tmp_path), *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "one value per sample", "sample 0")


@pytest.mark.parametrize("command", [["run"], ["identify", "--identifier", "energy"],
                                     ["detect", "--identifiers", "energy", "--types", "asymmetric"]])
def test_single_class_data_is_refused(tmp_path, command):
    path = tmp_path / "one.csv"
    pd.DataFrame({"a": np.arange(300.0), "b": np.arange(300.0) % 7, "species": "cat"}).to_csv(path, index=False)
    uri = fresh(tmp_path)
    result = invoke(*command, "--dataset", "csv", "--data-path", path, "--set", "data.label_column=species",
                    "--tracking-uri", uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "one class only")
    assert runs_of(uri) == []


def _npz_declaring(path, shape):
    """An npz whose x.npy header declares `shape` (float32) but holds no data: tiny on disk, enormous if read."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    labels = io.BytesIO()
    np.save(labels, np.arange(shape[0] if shape[0] < 10 ** 6 else 10) % 2)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue())  # the magic, then the header
        archive.writestr("y.npy", labels.getvalue())


def test_data_that_would_not_fit_in_memory_is_refused_from_its_headers(tmp_path):
    path = tmp_path / "bomb.npz"
    _npz_declaring(path, (10 ** 7, 10 ** 6))  # 40 TB of float32 in a file of a few hundred bytes
    uri = fresh(tmp_path)
    result = invoke("run", "--dataset", "npz", "--data-path", path, "--tracking-uri", uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "reading the npz data", "of memory")
    assert path.stat().st_size < 1000 and runs_of(uri) == []
    root = write_imagefolder(tmp_path / "images")
    result = invoke("run", "--dataset", "imagefolder", "--data-path", root, "--set", "data.image_size=[200000,200000]",
                    "--tracking-uri", uri, *TINY)
    assert_one_line(result, ExitCode.BAD_INPUT, "reading the imagefolder data", "data.image_size")
    assert runs_of(uri) == []


def test_a_changed_data_file_is_not_cut_into_a_wrong_clean_copy(tmp_path):
    path = tmp_path / "data.npz"
    write_npz(path, n=90)
    uri = fresh(tmp_path)
    done = invoke("run", "--dataset", "npz", "--data-path", path, "--seeds", "2", "--tracking-uri", uri, "--json",
                  "--epochs", "30", "--set", "inversion.warmup=5", "--set", "inversion.max_retries=0")
    assert done.exit_code == 0, done.output
    run_id = __import__("json").loads(done.stdout)["parent_run_id"]
    with np.load(path) as arrays:
        order = np.random.default_rng(1).permutation(90)
        np.savez(path, **{key: arrays[key][order] for key in arrays.files})  # the same samples, reordered
    clean = tmp_path / "clean"
    result = invoke("export", "--run-id", run_id, "--tracking-uri", uri, "--out", tmp_path / "e.csv",
                    "--clean-out", clean)
    assert_one_line(result, ExitCode.BAD_INPUT, str(path), "changed since run")
    assert not clean.exists() or not any(clean.iterdir())
