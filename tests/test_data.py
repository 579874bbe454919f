"""hardness.datasets.prepare on tiny IDX files written to tmp_path (offline) and scikit-learn's bundled digits."""

import pytest
import torch

from hardness.config import DataConfig
from hardness.datasets.idx import find_idx_damage
from hardness.datasets.prepare import compute_label_noise, list_datasets, load_dataset
from hardness.errors import HardnessError, UserError
from tests.conftest import write_idx_dataset

FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}


def _config(root, name="mnist", **fields):
    return DataConfig(name=name, root=str(root), **fields)


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_each_torchvision_dataset_loads_from_idx_files(idx_dataset, name):
    root, images, labels = idx_dataset(FOLDERS[name], n_train=12, n_test=5)
    data = load_dataset(_config(root, name), seed=0)
    assert data.name == name
    assert data.x.shape == (17, 784) and data.x.dtype == torch.float32
    assert data.n_samples == 17 and data.n_features == 784 and data.n_classes == 10
    assert sorted(data.index.tolist()) == list(range(17))
    assert torch.equal(data.clean_y, labels[data.index]) and torch.equal(data.y, data.clean_y)
    assert data.y.dtype == data.index.dtype == data.flipped.dtype == torch.int64
    assert data.flipped.numel() == 0


def test_original_index_maps_back_to_the_raw_image(idx_dataset):
    root, images, _ = idx_dataset(n_train=12, n_test=5)
    data = load_dataset(_config(root, subset_size=9), seed=3)
    kept = images[data.index].reshape(9, -1).double() / 255
    expected = (kept - kept.mean()) / kept.std(correction=0)
    assert torch.allclose(data.x.double(), expected, atol=1e-5)
    # The kept samples span both official parts, so t10k images sit at original indices 12..16.
    assert (data.index >= 12).any() and (data.index < 12).any()


def test_standardised_to_zero_mean_unit_std(idx_dataset):
    root, _, _ = idx_dataset(n_train=30, n_test=10)
    x = load_dataset(_config(root, subset_size=25), seed=1).x
    assert abs(x.mean().item()) < 1e-5
    assert x.std(correction=0).item() == pytest.approx(1.0, abs=1e-5)


def test_subset_keeps_the_first_k_of_the_seeded_permutation(idx_dataset):
    root, _, _ = idx_dataset(n_train=12, n_test=5)
    data = load_dataset(_config(root, subset_size=7), seed=5)
    expected = torch.randperm(17, generator=torch.Generator().manual_seed(5))[:7]
    assert torch.equal(data.index, expected)


def test_same_seed_same_data_other_seed_other_order(idx_dataset):
    root, _, _ = idx_dataset(n_train=12, n_test=5)
    first, again = load_dataset(_config(root), seed=0), load_dataset(_config(root), seed=0)
    other = load_dataset(_config(root), seed=1)
    assert torch.equal(first.x, again.x) and torch.equal(first.index, again.index)
    assert first.fingerprint == again.fingerprint and len(first.fingerprint) == 16
    assert not torch.equal(first.index, other.index)
    assert other.fingerprint != first.fingerprint


def test_fingerprint_changes_with_subset_and_noise(idx_dataset):
    root, _, _ = idx_dataset(n_train=12, n_test=5)
    base = load_dataset(_config(root), seed=0).fingerprint
    assert load_dataset(_config(root, subset_size=16), seed=0).fingerprint != base
    assert load_dataset(_config(root, label_noise=0.3), seed=0).fingerprint != base


def test_subset_larger_than_the_data_is_a_user_error(idx_dataset):
    root, _, _ = idx_dataset(n_train=12, n_test=5)
    with pytest.raises(HardnessError, match=r"subset_size 18 .* 17 samples"):
        load_dataset(_config(root, subset_size=18), seed=0)


def test_missing_files_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(HardnessError) as caught:
        load_dataset(_config(tmp_path, "fashion-mnist"), seed=0)
    message = str(caught.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in message
    assert "data.download=true" in message and "t10k-images-idx3-ubyte" in message
    assert "\n" not in message


def test_failed_download_is_one_line(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried http://x/, got:\n<urlopen error no net>\n")

    monkeypatch.setattr(torchvision.datasets.KMNIST, "download", offline)
    with pytest.raises(HardnessError) as caught:
        load_dataset(_config(tmp_path, "kmnist", download=True), seed=0)
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "KMNIST" / "raw") in message and "urlopen error no net" in message


@pytest.mark.parametrize("file, damage, fragment", [
    ("train-images-idx3-ubyte", lambda data: data[:-7], "holds 9,417 bytes where its header (12 x 28 x 28 values) "
                                                        "announces 9,424: it is cut short"),
    ("t10k-labels-idx1-ubyte", lambda data: data + b"\x00", "announces 13: it has bytes to spare"),
    ("train-images-idx3-ubyte", lambda data: b"\x00\x00\x08\x03garbage", "it ends inside its header (11 bytes)"),
    ("train-labels-idx1-ubyte", lambda data: b"PK\x03\x04" + data[4:], "starts with 50 4b 03 04, not the IDX magic "
                                                                        "00 00 08 01"),
    ("t10k-labels-idx1-ubyte", lambda data: b"", "starts with nothing"),
])
def test_a_damaged_file_is_named_with_its_damage(idx_dataset, file, damage, fragment):
    root, _, _ = idx_dataset(n_train=12, n_test=5)
    path = root / "MNIST" / "raw" / file
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(UserError) as caught:
        load_dataset(_config(root), seed=0)
    assert str(caught.value).startswith(f"the mnist file {path} is damaged: ") and fragment in str(caught.value)
    assert "not found" not in str(caught.value)


def test_image_and_label_counts_must_match(idx_dataset, tmp_path):
    root, _, _ = idx_dataset(n_train=12, n_test=5)
    write_idx_dataset(tmp_path / "other", "MNIST", n_train=11, n_test=5, seed=1)
    labels = root / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.write_bytes((tmp_path / "other" / "MNIST" / "raw" / "train-labels-idx1-ubyte").read_bytes())
    with pytest.raises(UserError, match="train-\\*-ubyte in .* do not match: 12 images but 11 labels"):
        load_dataset(_config(root), seed=0)


def test_find_idx_damage_accepts_an_intact_header():
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + (4).to_bytes(4, "big")
    assert find_idx_damage(header, 16 + 24, 3) is None
    assert "cut short" in find_idx_damage(header, 16 + 23, 3)
    assert "IDX magic 00 00 08 01" in find_idx_damage(header, 40, 1)


def test_one_missing_file_is_named(idx_dataset):
    root, _, _ = idx_dataset(n_train=12, n_test=5)
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match=r"not found in .*MNIST/raw \(missing t10k-labels-idx1-ubyte\)"):
        load_dataset(_config(root), seed=0)


def test_label_noise_flips_exactly_round_p_n_to_other_classes():
    labels = torch.arange(200) % 10
    noisy, positions = compute_label_noise(labels, 0.125, 10, seed=7)
    assert positions.numel() == 25 and positions.unique().numel() == 25
    assert torch.equal(torch.nonzero(noisy != labels).flatten(), positions)
    assert noisy.min() >= 0 and noisy.max() <= 9
    again, same = compute_label_noise(labels, 0.125, 10, seed=7)
    assert torch.equal(again, noisy) and torch.equal(same, positions)
    assert torch.equal(labels, torch.arange(200) % 10)  # input untouched


def test_label_noise_reaches_every_other_class():
    labels = torch.zeros(2000, dtype=torch.int64)
    noisy, _ = compute_label_noise(labels, 1.0, 4, seed=0)
    counts = torch.bincount(noisy, minlength=4)
    assert counts[0] == 0 and counts[1:].min() > 600  # about 667 each


def test_label_noise_in_a_dataset_records_original_indices(idx_dataset):
    root, _, labels = idx_dataset(n_train=30, n_test=10)
    data = load_dataset(_config(root, subset_size=33, label_noise=0.2), seed=2)
    assert data.flipped.numel() == round(0.2 * 33)
    changed = data.index[data.clean_y != data.y]
    assert torch.equal(data.flipped, changed.sort().values)
    assert torch.equal(data.clean_y, labels[data.index])
    rows = torch.isin(data.index, data.flipped)
    assert torch.all(labels[data.index[rows]] != data.y[rows])


def test_digits_loads_offline():
    data = load_dataset(DataConfig(name="digits"), seed=0)
    assert data.x.shape == (1797, 64) and data.n_classes == 10
    assert sorted(data.index.tolist()) == list(range(1797))
    assert set(data.y.tolist()) == set(range(10))
    assert abs(data.x.mean().item()) < 1e-5


def test_list_datasets_reports_availability(idx_dataset):
    root, _, _ = idx_dataset("MNIST")
    infos = {info.name: info for info in list_datasets(root)}
    assert set(infos) == {"digits", "mnist", "fashion-mnist", "kmnist", "cifar10", "npz", "csv", "parquet",
                          "imagefolder", "recording"}
    assert not infos["cifar10"].available and infos["csv"].available is None and infos["csv"].location == "data.path"
    assert infos["digits"].available and infos["mnist"].available
    assert not infos["fashion-mnist"].available and not infos["kmnist"].available
    assert infos["mnist"].location == str(root / "MNIST" / "raw")
    assert (infos["mnist"].n_samples, infos["mnist"].n_features) == (70_000, 784)
    assert (infos["digits"].n_samples, infos["digits"].n_features) == (1797, 64)
