"""The resource guard: the peak-memory estimate against a measured fit, reading available memory, and a request the
machine cannot hold refused in one line (exit 2) before any run starts."""

import json
import os
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import load_config
from hardness.engine.architectures import build_network
from hardness.engine.resources import (
    FitShape,
    check_memory,
    estimate_fit_bytes,
    parse_cgroup,
    parse_meminfo,
    profile_network,
)
from hardness.errors import UserError

runner = CliRunner()

MEASURE = """
import os, sys, threading, time, torch
from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.identifiers.stragglers import watch_training
from hardness.engine.seeds import derive_model_seeds
torch.set_num_threads(1)
config = load_config(None, sys.argv[2:])
dataset = load_dataset(config.data, 0)
seeds = derive_model_seeds(0, int(sys.argv[1]))
tiny = config.model_copy(update={"train": config.train.model_copy(update={"epochs": 1})})
watch_training(dataset, tiny, seeds[:2], seed=0)  # torch's first-use allocations are not the fit's
page = os.sysconf("SC_PAGE_SIZE")
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
peak, done = [rss()], threading.Event()
def sample():
    while not done.is_set():
        peak.append(rss())
        time.sleep(0.002)
before = rss()
sampler = threading.Thread(target=sample)
sampler.start()
watch_training(dataset, config, seeds, seed=0)
done.set()
sampler.join()
print(max(peak) - before)
"""


def measure_peak(n_models: int, overrides: list[str]) -> int:
    """The peak resident bytes a fit of `n_models` adds, measured in a fresh process on one thread."""
    return int(subprocess.run([sys.executable, "-c", MEASURE, str(n_models), *overrides], capture_output=True,
                              text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="resident memory is read from /proc")
def test_estimate_is_within_a_small_factor_of_a_measured_fit():
    """600 models watched for stragglers on the 1,797 digits: the peak resident memory the fit adds (sampled every
    2 ms in a fresh process)."""
    overrides = ["train.chunk_size=256", "train.epochs=10", "inversion.warmup=0"]
    measured = measure_peak(600, overrides)
    config = load_config(None, overrides)
    estimate = estimate_fit_bytes(FitShape(600, 1797, 64, 10, predicted=False), config.model, config.train)
    assert 100 * 2 ** 20 < estimate < 250 * 2 ** 20  # the chunk buffers dominate: 600 x 256 x 150 floats
    assert 0.5 < estimate / measured < 2, (estimate, measured)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="resident memory is read from /proc")
@pytest.mark.parametrize("models,overrides", [
    (20, ["model.arch=cnn", "train.chunk_size=512"]),
    (10, ["model.arch=resnet", "model.resnet_blocks=1", "train.batch_size=128"]),
], ids=["cnn-full-batch", "resnet-minibatch"])
def test_module_backend_estimate_is_within_a_small_factor_of_a_measured_fit(models, overrides):
    """The module backend's estimate (a network profile: parameters, each layer's output per sample) against the peak
    of CNN and ResNet ensembles watched for stragglers on the digits."""
    overrides = [*overrides, "train.epochs=2", "inversion.warmup=0", "inversion.check_every=1"]
    measured = measure_peak(models, overrides)
    config = load_config(None, overrides)
    network = build_network(config.model, 10, (1, 8, 8))
    estimate = estimate_fit_bytes(FitShape(models, 1797, 64, 10, predicted=False), config.model, config.train,
                                  profile_network(network, (1, 8, 8)))
    assert 0.5 < estimate / measured < 2, (estimate, measured)


def test_estimate_counts_every_term():
    config = load_config(None, [])
    base = FitShape(100, 10_000, 784, 10, watched=False, predicted=False)
    plain = estimate_fit_bytes(base, config.model, config.train)
    assert estimate_fit_bytes(FitShape(200, 10_000, 784, 10, False, False), config.model, config.train) == 2 * plain
    watched = estimate_fit_bytes(FitShape(100, 10_000, 784, 10, True, False), config.model, config.train)
    assert watched - plain == 100 * 10_000 * 11 + 501 * 100 * 10 * 4  # history per (model, sample); radii per epoch
    adam = config.train.model_copy(update={"optimizer": "adam"})
    n_params = 784 * 20 + 20 + 20 * 20 + 20 + 20 * 10 + 10
    assert estimate_fit_bytes(base, config.model, adam) - plain == 100 * n_params * 3 * 4


def test_available_memory_parsing():
    assert parse_meminfo("MemTotal: 100 kB\nMemAvailable:    2048 kB\n") == 2 * 2 ** 20
    assert parse_meminfo("MemTotal: 100 kB\n") is None
    assert parse_cgroup("max\n", "123\n") is None
    assert parse_cgroup("9223372036854771712\n", "4313219072\n") is None  # cgroup v1 without a limit
    assert parse_cgroup("1073741824\n", "73741824\n") == 10 ** 9


def test_check_names_the_estimate_and_the_available_memory():
    check_memory(10, None, "x", "y")  # unknown: allowed
    check_memory(10, 10, "x", "y")
    with pytest.raises(UserError, match=r"training 5 models needs about 3.0 GiB of memory but 512 MiB is available: "
                                        r"ask for fewer"):
        check_memory(3 * 2 ** 30, 2 ** 29, "training 5 models", "ask for fewer")


def test_a_huge_request_is_refused_before_any_run(tracking_uri, monkeypatch):
    monkeypatch.setattr("hardness.engine.resources.read_available_bytes", lambda device: 8 * 2 ** 30)
    started = time.monotonic()
    result = runner.invoke(app, ["run", "--seeds", "100000", "--tracking-uri", tracking_uri, "--experiment", "huge",
                                 "--json"])
    assert result.exit_code == 2, result.output
    assert time.monotonic() - started < 60
    line, = result.stderr.strip().splitlines()
    assert "training 100000 models on 1797 samples needs about" in line and "but 8.0 GiB is available" in line
    assert json.loads(result.stdout)["exit_code"] == 2
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("huge")
    assert experiment is None or not client.search_runs([experiment.experiment_id])  # nothing started, nothing lost


def test_a_network_profile_counts_parameters_and_each_layers_output():
    from tests.networks import tiny_cnn

    profile = profile_network(tiny_cnn(3, (1, 8, 8)), (1, 8, 8))
    assert profile.n_params == (4 * 9 + 4) + (16 * 3 + 3)
    assert profile.activations == 256 + 256 + 16 + 16 + 3  # conv, relu, pool, flatten, linear for one sample
    assert profile.largest == 256
