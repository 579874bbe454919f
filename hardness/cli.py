"""The `hardness` command line: thin commands that parse options, call the library, print the result.

Heavy libraries (torch, mlflow) are imported inside the commands so `--help` and `--version` stay instant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from hardness import __version__
from hardness.errors import USER_ERROR_EXIT_CODE, HardnessError

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                  help="Find the hard samples (stragglers) in a dataset and measure how they distort test accuracy.")

ConfigArgument = Annotated[Optional[Path], typer.Argument(help="YAML config (see configs/); defaults apply when omitted.")]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="Override any config field: --set train.lr=0.05 (repeatable).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary instead of tables.")]
DatasetOption = Annotated[Optional[str], typer.Option(help="digits | mnist | fashion-mnist | kmnist")]
SubsetOption = Annotated[Optional[int], typer.Option(help="Keep this many samples after the seeded shuffle.")]
SeedsOption = Annotated[Optional[int], typer.Option(help="Number of models (seeds) trained at once.")]
SeedOption = Annotated[Optional[int], typer.Option(help="Base seed: data shuffle and model initialisations.")]
EpochsOption = Annotated[Optional[int], typer.Option(help="Epoch budget.")]
DataRootOption = Annotated[Optional[Path], typer.Option(help="Folder holding <MNIST|FashionMNIST|KMNIST>/raw.")]
TrackingOption = Annotated[Optional[str], typer.Option(help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or ./mlruns).")]
ExperimentOption = Annotated[Optional[str], typer.Option(help="MLflow experiment name.")]


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a HardnessError into one line on stderr and exit code 2 (real bugs keep their traceback)."""
    try:
        yield
    except HardnessError as error:
        from hardness.console import print_error

        print_error(str(error))
        raise typer.Exit(USER_ERROR_EXIT_CODE) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hardness {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    """Find the hard samples (stragglers) in a dataset and measure how they distort test accuracy."""


def common_overrides(*, dataset=None, subset_size=None, seeds=None, seed=None, epochs=None, data_root=None,
                     tracking_uri=None, experiment=None) -> list[str]:
    """Turn the common options into `key=value` overrides (applied before --set, which wins)."""
    fields = {"data.name": dataset, "data.subset_size": subset_size, "seeds": seeds, "seed": seed,
              "train.epochs": epochs, "data.root": data_root, "tracking.uri": tracking_uri,
              "tracking.experiment": experiment}
    return [f"{key}={json.dumps(str(value) if isinstance(value, Path) else value)}"
            for key, value in fields.items() if value is not None]


@app.command()
def run(config: ConfigArgument = None, dataset: DatasetOption = None, subset_size: SubsetOption = None,
        seeds: SeedsOption = None, seed: SeedOption = None, epochs: EpochsOption = None,
        data_root: DataRootOption = None, tracking_uri: TrackingOption = None,
        experiment: ExperimentOption = None, set_: SetOption = None, as_json: JsonOption = False) -> None:
    """Train many seeds at once, track class radii, mark inversion points and collect stragglers."""
    from hardness.config import load_config
    from hardness.console import print_table, progress_bar
    from hardness.experiments.stragglers import run_stragglers

    overrides = common_overrides(dataset=dataset, subset_size=subset_size, seeds=seeds, seed=seed, epochs=epochs,
                                 data_root=data_root, tracking_uri=tracking_uri, experiment=experiment)
    with user_errors():
        resolved = load_config(config, [*overrides, *(set_ or [])])
        with progress_bar("training", enabled=not as_json) as progress:
            summary = run_stragglers(resolved, config_file=config, progress=progress)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    headers = {"class": "class", "inversion_epoch_mean": "inversion epoch", "inversion_epoch_std": "± std",
               "not_inverted": "not inverted", "stragglers_mean": "stragglers", "stragglers_std": "± std "}
    print_table(summary.per_class.rename(columns=headers), title=f"Inversion epochs and stragglers per class ({summary.dataset}, "
                                         f"{len(summary.child_run_ids)} seeds, {summary.n_samples} samples)")
    typer.echo(f"stragglers per seed: {summary.straggler_counts}")
    typer.echo(f"MLflow run {summary.parent_run_id} (experiment {summary.experiment!r}, {summary.tracking_uri})")


@app.command()
def datasets(data_root: DataRootOption = Path("data"), as_json: JsonOption = False) -> None:
    """List the datasets, their sizes and whether each is available locally."""
    from hardness.console import print_table
    from hardness.data import list_datasets

    import pandas as pd

    with user_errors():
        frame = pd.DataFrame([vars(info) for info in list_datasets(data_root)])
    if as_json:
        typer.echo(frame.to_json(orient="records", indent=2))
        return
    print_table(frame, title=f"Datasets (root: {data_root})")


def main() -> None:
    """Console entry point."""
    app()
