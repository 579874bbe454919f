"""train.device (`--device`): resolution, the early refusal of a missing GPU, the resolved device on every run, CPU
results unchanged, and guards for the GPU path that run without one (tests/test_gpu.py compares CUDA with CPU)."""

import ast
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow import MlflowClient
from typer.testing import CliRunner

from hardness.cli import app
from hardness.config import load_config
from hardness.engine import devices
from hardness.errors import EnvironmentProblem, ExitCode, UserError
from hardness.identifiers import REGISTRY
from hardness.identifiers.identify import identify
from hardness.studies.imbalance.grid import build_cells, evaluate_unit, plan_units
from hardness.tracking import schema
from tests.placement import devices_in, fit_observed, small_problem

runner = CliRunner()
TINY = ["--seeds", "2", "--epochs", "30", "--subset-size", "200", "--set", "inversion.warmup=5"]
PACKAGE = Path(__file__).parent.parent / "hardness"


def test_auto_is_cuda_when_there_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == devices.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("auto") == devices.resolve_device("cuda") == torch.device("cuda")


@pytest.mark.parametrize("name, fragment", [("cuda", "sees no CUDA GPU"), ("mps", "no float64")])
def test_a_device_torch_cannot_use_is_an_environment_problem(monkeypatch, name, fragment):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EnvironmentProblem, match=fragment) as refused:
        devices.resolve_device(name)
    assert refused.value.exit_code == ExitCode.ENVIRONMENT and "--device cpu" in str(refused.value)


def test_device_config_names_the_valid_devices_and_stays_out_of_resume_keys():
    from hardness.studies.common.session import resume_key

    assert load_config().train.device == "auto"
    with pytest.raises(UserError, match="unknown device 'tpu'; choose from: auto, cpu, cuda, mps"):
        load_config(None, ["train.device=tpu"])
    assert resume_key(load_config(None, ["train.device=cpu"])) == resume_key(load_config())


def test_cuda_without_one_exits_3_in_one_line_before_any_run(monkeypatch, tracking_uri):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = runner.invoke(app, ["run", "--device", "cuda", "--tracking-uri", tracking_uri, *TINY])
    assert result.exit_code == ExitCode.ENVIRONMENT, result.output
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "sees no CUDA GPU" in result.stderr
    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=3)]
    assert not experiments or not client.search_runs(experiments, run_view_type=3)


def test_cpu_device_gives_the_defaults_stragglers_and_is_tagged(tracking_uri):
    runs = []
    for extra in ([], ["--device", "cpu"]):
        result = runner.invoke(app, ["run", "--tracking-uri", tracking_uri, *TINY, *extra, "--json"])
        assert result.exit_code == 0, result.output
        runs.append(json.loads(result.stdout))
    default, cpu = runs
    assert default["inversion_epochs"] == cpu["inversion_epochs"]
    client = MlflowClient(tracking_uri)
    tables = [pd.read_csv(client.download_artifacts(run["parent_run_id"], schema.STRAGGLERS_TABLE)) for run in runs]
    assert len(tables[0]) and tables[0][["model", "original_index"]].equals(tables[1][["model", "original_index"]])
    parent = client.get_run(cpu["parent_run_id"])
    assert parent.data.tags[schema.DEVICE] == "cpu" and parent.data.params["train.device"] == "cpu"
    assert client.get_run(default["parent_run_id"]).data.params["train.device"] == "auto"


def test_move_reaches_every_tensor_and_copies_none_already_there():
    x = torch.ones(2)
    value = {"a": [x, (x, "label")], "b": 3}
    moved = devices.move(value, torch.device("cpu"))
    assert moved["a"][0] is x and moved["a"][1][0] is x and moved["a"][1][1] == "label" and moved["b"] == 3
    dataset, _ = small_problem()
    assert devices.to_cpu(dataset).x is dataset.x and devices.to_cpu(dataset).paths == dataset.paths


def test_the_engine_hands_every_observation_on_the_datas_device():
    dataset, config = small_problem("train.optimizer=adam")
    collector, fitted = fit_observed(dataset, config)
    assert collector.devices == {dataset.x.device} == devices_in(fitted)
    assert len(collector.radii) == config.train.epochs + 1


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_identifier_follows_the_data_and_identify_returns_cpu_results(name):
    dataset, config = small_problem("train.device=cpu")
    seeds = [1, 2]
    direct = REGISTRY[name]().identify(dataset, config, seeds)
    assert devices_in(direct) == {dataset.x.device}
    shared = identify(dataset, config, name, 2)
    assert devices_in(shared) == {torch.device("cpu")}


def test_a_grid_unit_returns_cpu_results():
    dataset, config = small_problem("train.device=cpu")
    hard = torch.zeros(1, dataset.n_samples, dtype=torch.bool)
    hard[0, ::7] = True
    (unit,) = plan_units(config, hard, build_cells(config, 1))
    results = evaluate_unit(unit, dataset=dataset, config=config)
    assert devices_in([result.split for result in results]) == {torch.device("cpu")}
    assert all(result.metrics["acc/all"].shape == (config.imbalance.inits,) for result in results)


FACTORIES = {"tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "arange", "linspace", "eye",
             "rand", "randn", "randint", "randperm", "Generator"}
"""torch functions that make a tensor (or generator) on the default device unless told otherwise (not the *_like
ones, which follow their input)."""
FOLLOWING = ("engine/*.py", "identifiers/*.py", "studies/common/metrics.py", "studies/common/scoring.py",
             "studies/imbalance/splits.py", "studies/imbalance/grid.py", "studies/benchmark/compare.py",
             "studies/search/objective.py", "studies/detect/reference.py", "studies/detect/evaluate.py",
             "studies/detect/measures.py")
"""The modules that compute on the data's device: study shells, tables, figures and the injections (which build
CPU datasets that the identification then moves) are left out."""
CPU_ONLY = ("identifiers/recorder.py", "identifiers/results.py")
"""Modules that hold their data on the CPU by design: a recording's accumulators (logits arrive from any device and
are moved to the CPU) and the API's answers (NumPy arrays)."""


def unplaced_factories(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """'file:line torch.name' (file relative to `root`) for every tensor factory call in `path` that names no device=
    and is not .to()'d."""
    tree = ast.parse(path.read_text())
    moved = {id(node.func.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "to"}
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FACTORIES
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
                and not any(keyword.arg == "device" for keyword in node.keywords) and id(node) not in moved):
            found.append(f"{path.relative_to(root).as_posix()}:{node.lineno} torch.{node.func.attr}")
    return found


def test_tensor_factories_in_device_following_modules_name_their_device():
    """A tensor made without device= lands on the CPU: on a GPU run that is a device mismatch (or a silent copy)."""
    paths = sorted({path for pattern in FOLLOWING for path in PACKAGE.glob(pattern)
                    if path.relative_to(PACKAGE).as_posix() not in CPU_ONLY})
    assert len(paths) > 30
    assert [line for path in paths for line in unplaced_factories(path)] == []


def test_the_factory_guard_catches_a_missing_device(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text("import torch\na = torch.zeros(3)\nb = torch.zeros(3, device=x.device)\n"
                    "c = torch.from_numpy(y).to(d)\nd = torch.Generator().manual_seed(0)\n")
    assert unplaced_factories(path, tmp_path) == ["sample.py:2 torch.zeros", "sample.py:5 torch.Generator"]
