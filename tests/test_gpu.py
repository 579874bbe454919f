"""CUDA against CPU on small data: the same models (drawn on the CPU) give the same radii, losses, inversion epochs,
identifier scores and grid metrics to float tolerance, and every tensor stays on the GPU. Marked `gpu`, skipped
without CUDA; scripts/gpu-check.sh runs them on a GPU machine (no MLflow or Optuna needed). HARDNESS_TEST_DEVICE=cpu
runs them CPU against CPU, the second side in other chunks (sums in another order, float-level differences as on a
GPU), which checks the tests and their tolerances where there is no GPU."""

import os

import pytest
import torch

from hardness.engine.devices import move
from hardness.engine.seeds import derive_model_seeds
from hardness.identifiers import REGISTRY
from hardness.identifiers.identify import identify
from hardness.identifiers.stragglers import find_stragglers
from hardness.studies.benchmark.compare import compute_class_error_rates
from hardness.studies.detect.reference import compute_reference_probabilities
from hardness.studies.imbalance.grid import build_cells, evaluate_cells, evaluate_unit, plan_units
from tests.placement import devices_in, fit_observed, small_problem

DEVICE = os.environ.get("HARDNESS_TEST_DEVICE", "cuda")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                                                  reason="needs a CUDA GPU")]


def types_in(value) -> set[str]:
    """The device types of the tensors in `value` ({'cuda'}, {'cpu'})."""
    return {device.type for device in devices_in(value)}


def on_device(*overrides: str):
    """(CPU dataset, its copy on DEVICE, config on cpu, config on DEVICE) of the small problem."""
    dataset, config = small_problem(*overrides)
    other = {"device": DEVICE, **({"chunk_size": 97} if DEVICE == "cpu" else {})}
    configs = [config.model_copy(update={"train": config.train.model_copy(update=train)})
               for train in ({"device": "cpu"}, other)]
    return dataset, move(dataset, torch.device(DEVICE)), *configs


def assert_mostly_close(gpu: torch.Tensor, cpu: torch.Tensor, *, rtol: float, atol: float, share: float = 1.0):
    """At least `share` of the entries within atol + rtol |cpu| (NaN matching NaN); the message names the worst."""
    gpu, cpu = gpu.cpu().double(), cpu.cpu().double()
    assert gpu.shape == cpu.shape
    close = torch.isclose(gpu, cpu, rtol=rtol, atol=atol, equal_nan=True)
    worst = (gpu - cpu).abs().nan_to_num(0).max()
    fraction = float(close.double().mean())
    assert fraction >= share, f"{fraction:.4f} close, worst difference {float(worst):.3g}"


@pytest.mark.parametrize("overrides", [(), ("train.optimizer=adam",), ("train.momentum=0.9",),
                                       ("model.backend=module",), ("model.arch=cnn",)])
def test_engine_radii_losses_and_weights_match_cpu(overrides):
    dataset, device_dataset, config, device_config = on_device(*overrides)
    cpu, cpu_fit = fit_observed(dataset, config)
    gpu, gpu_fit = fit_observed(device_dataset, device_config)
    assert {d.type for d in gpu.devices} == types_in(gpu_fit) == {DEVICE}
    assert bool(torch.isfinite(torch.stack(cpu.loss)).all())  # NaN matching NaN would prove nothing
    assert_mostly_close(torch.stack(gpu.radii), torch.stack(cpu.radii), rtol=1e-3, atol=1e-4)
    assert_mostly_close(torch.stack(gpu.loss), torch.stack(cpu.loss), rtol=1e-4, atol=1e-5)
    for gpu_param, cpu_param in zip(gpu_fit.ensemble.parameters(), cpu_fit.ensemble.parameters()):
        assert_mostly_close(gpu_param, cpu_param, rtol=1e-3, atol=1e-4)


def test_bf16_and_mini_batches_run_on_device():
    """bf16 rounds differently per device and the batch order is drawn on the data's device: only the placement and
    a sane result are compared."""
    for overrides in (("train.precision=bf16",), ("train.batch_size=64",)):
        dataset, device_dataset, config, device_config = on_device(*overrides)
        gpu, gpu_fit = fit_observed(device_dataset, device_config)
        cpu, _ = fit_observed(dataset, config)
        assert {d.type for d in gpu.devices} == types_in(gpu_fit) == {DEVICE}
        assert bool(torch.isfinite(torch.stack(gpu.radii)).all())
        assert float(gpu.loss[-1].max()) < float(gpu.loss[0].min())
        assert_mostly_close(gpu.loss[-1], cpu.loss[-1], rtol=0.2, atol=0.05)


def test_inversion_epochs_and_stragglers_match_cpu():
    dataset, device_dataset, config, device_config = on_device()
    seeds = derive_model_seeds(config.seed, 4)
    cpu = find_stragglers(dataset, config, seeds, seed=config.seed)
    gpu = find_stragglers(device_dataset, device_config, seeds, seed=config.seed)
    assert types_in(gpu) == {DEVICE}
    assert_mostly_close(gpu.radii, cpu.radii, rtol=1e-3, atol=1e-4)
    assert_mostly_close(gpu.loss, cpu.loss, rtol=1e-4, atol=1e-5)
    assert_mostly_close(gpu.inversion_epoch, cpu.inversion_epoch, rtol=0, atol=0, share=0.9)
    assert_mostly_close(gpu.hard, cpu.hard, rtol=0, atol=0, share=0.98)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_identifier_scores_and_sets_match_cpu(name):
    if name == "cleanlab":
        pytest.importorskip("cleanlab")
    dataset, device_dataset, cpu_config, device_config = on_device()
    direct = REGISTRY[name]().identify(device_dataset, device_config, [1, 2])
    assert types_in(direct) == {DEVICE}
    cpu, gpu = identify(dataset, cpu_config, name, 2), identify(dataset, device_config, name, 2)
    assert types_in(gpu) == {"cpu"}
    if cpu.scores is not None:
        assert_mostly_close(gpu.scores, cpu.scores, rtol=1e-3, atol=1e-4, share=0.99)
    if cpu.hard is not None:
        assert_mostly_close(gpu.hard, cpu.hard, rtol=0, atol=0, share=0.98)


def test_grid_metrics_match_cpu_also_from_hard_sets_on_device():
    """The search hands the grid hard sets that live on the GPU; the splits are drawn on the CPU all the same."""
    dataset, device_dataset, cpu_config, device_config = on_device()
    hard = torch.zeros(1, dataset.n_samples, dtype=torch.bool)
    hard[0, ::7] = True
    (unit,) = plan_units(cpu_config, hard, build_cells(cpu_config, 1))
    cpu = evaluate_unit(unit, dataset=dataset, config=cpu_config)
    for gpu in (evaluate_unit(unit, dataset=dataset, config=device_config),
                next(evaluate_cells(device_dataset, device_config, hard.to(DEVICE), build_cells(device_config, 1)))):
        for cpu_cell, gpu_cell in zip(cpu, gpu):
            assert torch.equal(gpu_cell.split.train, cpu_cell.split.train)
            assert (gpu_cell.diverged == cpu_cell.diverged).all()
            for metric, values in cpu_cell.metrics.items():
                assert_mostly_close(torch.from_numpy(gpu_cell.metrics[metric]), torch.from_numpy(values), rtol=0,
                                    atol=0.05)


def test_class_errors_and_reference_probabilities_match_cpu():
    dataset, _, cpu_config, device_config = on_device("benchmark.error_models=3", "detect.reference_models=2")
    cpu_error, cpu_diverged = compute_class_error_rates(dataset, cpu_config)
    gpu_error, gpu_diverged = compute_class_error_rates(dataset, device_config)
    assert gpu_diverged.device == torch.device("cpu") and torch.equal(gpu_diverged, cpu_diverged)
    assert_mostly_close(torch.from_numpy(gpu_error), torch.from_numpy(cpu_error), rtol=0, atol=0.05)
    cpu_probabilities = compute_reference_probabilities(dataset, cpu_config)
    gpu_probabilities = compute_reference_probabilities(dataset, device_config)
    assert gpu_probabilities.device == torch.device("cpu")
    assert_mostly_close(gpu_probabilities, cpu_probabilities, rtol=1e-3, atol=1e-4, share=0.99)
