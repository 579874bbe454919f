"""Tiny datasets in every format `hardness` reads, written by the tests into tmp_path (none is committed)."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ("ant", "bee", "cat")


def _features(n, d, seed):
    """Labels (text, classes in turn) and features [n, d] whose mean moves with the class, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.array([CLASSES[i % len(CLASSES)] for i in range(n)])
    shift = np.array([CLASSES.index(label) for label in labels], dtype=float)[:, None]
    return labels, (rng.normal(size=(n, d)) + shift).astype(np.float32)


def write_table(path, n=60, seed=0):
    """A table: label column `species` (text), numeric features a..d, a text column `name` (left out)."""
    labels, x = _features(n, 4, seed)
    frame = pd.DataFrame(x, columns=list("abcd")).assign(species=labels, name=[f"s{i}" for i in range(n)])
    path = Path(path)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return frame


def write_npz(path, n=60, seed=0, **extra):
    """x [n, 6] float32 and integer labels y 0..2 (extra arrays, e.g. index or names, saved beside them)."""
    labels, x = _features(n, 6, seed)
    y = np.array([CLASSES.index(label) for label in labels])
    np.savez(path, x=x, y=y, **extra)
    return x, y


def write_imagefolder(root, per_class=8, size=(6, 5), seed=0, sizes=None):
    """root/<class>/<i>.png RGB images of `size` (height, width) whose brightness grows with the class; `sizes`
    overrides the size of single files {(class, i): (height, width)}."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            height, width = (sizes or {}).get((name, i), size)
            pixels = np.clip(rng.normal(60 + 60 * c, 40, size=(height, width, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def cifar10_checksums(root):
    """{file name: MD5} of the stand-in CIFAR-10 files under ROOT (what the reader checks in place of the published)."""
    import hashlib

    folder = Path(root) / "cifar-10-batches-py"
    return {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in folder.iterdir()}


def write_cifar10(root, per_batch=3, seed=0):
    """ROOT/cifar-10-batches-py/ in torchvision's format: five data batches and test_batch of `per_batch` images each
    (pickled {'data': uint8 [n, 3072], 'labels': [n]}) and batches.meta. Returns (images [N, 3, 32, 32], labels)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    images, labels = [], []
    for name in names:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        targets = rng.integers(0, 10, size=per_batch).tolist()
        with open(folder / name, "wb") as handle:
            pickle.dump({"batch_label": name, "labels": targets, "data": data}, handle)
        images.append(data.reshape(-1, 3, 32, 32))
        labels += targets
    label_names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": label_names, "num_cases_per_batch": per_batch}, handle)
    return np.concatenate(images), np.array(labels)
