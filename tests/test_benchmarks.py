"""The benchmark harness: the probe times a real command's phases and counts its work exactly."""

from __future__ import annotations

import pytest
import torch

from benchmarks.end_to_end import REPOSITORY, time_command
from benchmarks.reference_style import class_radii, train_one_seed
from hardness.config import DataConfig, InversionConfig, ModelConfig, TrainConfig
from hardness.datasets.prepare import load_dataset
from hardness.engine import flops_per_sample_epoch
from hardness.engine.radii import compute_radii


@pytest.mark.slow
def test_probe_splits_a_run_into_phases_and_counts_its_flops(tmp_path):
    timing = time_command(["run", str(REPOSITORY / "configs/quickstart.yaml"), "--seeds", "3", "--epochs", "4",
                           "--set", "inversion.max_retries=0", "--set", "inversion.warmup=0",
                           "--set", "inversion.check_every=2"], tracking_uri=f"sqlite:///{tmp_path}/m.db")
    n_samples, n_features = 1797, 64
    assert timing.exit_code == 0
    assert timing.flops == flops_per_sample_epoch(n_features, ModelConfig(), 10) * n_samples * 3 * 4
    assert timing.training_s > 0 and timing.tracking_s > 0 and timing.startup_s > 0
    assert timing.startup_s + timing.training_s + timing.tracking_s <= timing.wall_s
    # the parent started and ended once on the main thread; the three seeds written by one child writer, waited for
    assert timing.tracking_calls["start_run"] == 1 and timing.tracking_calls["end_run"] == 1
    assert timing.tracking_calls["child_writer"] == 1 and timing.tracking_calls["RunWriter.close"] == 1


def test_reference_style_radii_equal_the_library_closed_form():
    generator = torch.Generator().manual_seed(0)
    latent, labels = torch.randn(300, 7, generator=generator), torch.randint(0, 4, (300,), generator=generator)
    expected = compute_radii(latent.unsqueeze(0), labels, 4)[0]
    assert torch.allclose(class_radii(latent, labels, 4), expected.float(), atol=1e-5)


def test_reference_style_loop_marks_misclassified_samples_of_inverted_classes_only():
    dataset = load_dataset(DataConfig(name="digits"), 0)
    stragglers = train_one_seed(dataset.x, dataset.y, 10, 0, model=ModelConfig(), train=TrainConfig(epochs=60),
                                rule=InversionConfig(warmup=10))
    assert stragglers.dtype == torch.bool and stragglers.shape == dataset.y.shape
    assert 0 < int(stragglers.sum()) < len(dataset.y) // 2


def test_ablation_splits_hard_and_easy_alike_and_measures_overlap():
    import numpy as np

    from benchmarks.ablation import jaccard, split_train_test

    hard = np.zeros(100, dtype=bool)
    hard[:20] = True
    train = split_train_test(hard, seed=3)
    assert train[hard].sum() == 18 and train[~hard].sum() == 72  # 90% of each group
    assert np.array_equal(train, split_train_test(hard, seed=3))
    a, b = np.array([1, 1, 0, 0], bool), np.array([0, 1, 1, 0], bool)
    nothing = np.zeros(4, dtype=bool)
    assert jaccard(a, b) == 1 / 3 and np.isnan(jaccard(nothing, nothing))

