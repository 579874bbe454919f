"""One entry point for the benchmarks: `python -m benchmarks all --quick` (or one of them by name).

Every number is measured in the same invocation as what it is compared with (the matmul peak, the baselines), so
ratios hold on any machine; the summary marks each issue target met or not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import ablation as ablations
from benchmarks import api_speed, diagnose_quality, engine_speed, grid_speed, module_speed, tracking_speed
from benchmarks.common import LoadMeter, console, load_mnist, measure_peak_gflops
from benchmarks.end_to_end import CommandTiming, radii_command, study_command, time_command
from benchmarks.reference_style import time_reference
from benchmarks.summary import Summary


def engine(args: argparse.Namespace, summary: Summary) -> None:
    """The engine alone (no tracking): ms per model-epoch against the peak and the straightforward per-seed loop."""
    quick = ["--epochs", "10", "--no-bf16"] if args.quick else []
    summary.engine(engine_speed.main(["--data-root", args.data_root, "--device", args.device, *quick]))


def radii(args: argparse.Namespace, summary: Summary) -> CommandTiming:
    """The radii run end to end, its training rate against the peak and the reference-style loop on the same data."""
    peaks = [measure_peak_gflops()]
    run = time_command(radii_command(args.data_root, quick=args.quick), tracking_uri=args.tracking_uri)
    peaks.append(measure_peak_gflops())
    x, y = load_mnist(args.data_root, 20000)
    baseline = time_reference(x, y, seeds=args.reference_seeds, epochs=args.reference_epochs)
    model_epochs = run.flops / _flops_per_model_epoch(x.shape[1], int(y.max()) + 1, len(y))
    summary.radii(run, peak=max(peaks), baseline=baseline, model_epochs=model_epochs)
    return run


def study(args: argparse.Namespace, summary: Summary) -> CommandTiming:
    """The identifier benchmark end to end: wall time and its phases."""
    run = time_command(study_command(args.data_root, quick=args.quick), tracking_uri=args.tracking_uri)
    summary.study(run)
    return run


def grid(args: argparse.Namespace, summary: Summary) -> None:
    """One grid unit and the benchmark's identification, old plan against new, and the projected benchmark time."""
    numbers = grid_speed.measure(args.data_root, quick=args.quick)
    console.print(grid_speed.report(numbers))
    summary.grid(numbers)


def tracking(args: argparse.Namespace, summary: Summary) -> None:
    """The radii run's child runs written the old way and as now, on SQLite and on a real mlflow server."""
    numbers = tracking_speed.measure(children=20 if args.quick else 100)
    console.print(tracking_speed.report(numbers))
    summary.tracking(numbers)


def api(args: argparse.Namespace, summary: Summary) -> None:
    """The Python API's overhead over the CLI, the Recorder's over a CNN step, and what a recorded loop finds."""
    numbers = api_speed.measure(quick=args.quick)
    console.print(api_speed.report(numbers))
    summary.api(numbers)


def module(args: argparse.Namespace, summary: Summary) -> None:
    """The module backend (K copies of a CNN or ResNet at once) against a per-seed loop of the same nn.Module."""
    results = module_speed.measure(quick=args.quick, device="cuda" if args.device == "cuda" else "cpu")
    console.print(module_speed.report(results))
    summary.module(results)


def ablation(args: argparse.Namespace, summary: Summary) -> None:
    """Architectures and radii layers on MNIST 20k: inversions, stragglers, their overlap and the easy/hard gap."""
    figure = Path(args.figure) if args.figure else None
    results = ablations.measure(data_root=args.data_root, quick=args.quick, only=args.only, figure=figure)
    console.print(ablations.report(results))
    console.print(ablations.markdown(results), markup=False, highlight=False)


def diagnose(args: argparse.Namespace, summary: Summary) -> None:
    """`hardness diagnose` on planted flips and atypical samples: measured precision beside its estimate, the peer."""
    results = diagnose_quality.measure(data_root=args.data_root, quick=args.quick)
    console.print(diagnose_quality.report(results))
    console.print(diagnose_quality.markdown(results), markup=False, highlight=False)


def _flops_per_model_epoch(n_features: int, n_classes: int, n_samples: int) -> float:
    from hardness.config import ModelConfig
    from hardness.engine import flops_per_sample_epoch

    return float(flops_per_sample_epoch(n_features, ModelConfig(), n_classes) * n_samples)


BENCHMARKS = {"engine": engine, "tracking": tracking, "radii": radii, "grid": grid, "study": study, "api": api,
              "module": module, "ablation": ablation, "diagnose": diagnose}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=["all", *BENCHMARKS], help="which benchmark (all: every one, in order)")
    parser.add_argument("--quick", action="store_true", help="reduced workloads (minutes, not an hour)")
    parser.add_argument("--data-root", default="../shared/data", help="folder holding MNIST/raw")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="the engine benchmark's "
                        "device")
    parser.add_argument("--tracking-uri", default=None, help="MLflow store of the timed commands (default: a "
                        "throwaway SQLite file)")
    parser.add_argument("--reference-seeds", type=int, default=2, help="seeds of the reference-style loop")
    parser.add_argument("--reference-epochs", type=int, default=5, help="epochs per seed of the reference-style loop")
    parser.add_argument("--only", default=None, help="ablation: only the variants of this network (mlp, cnn, "
                        "resnet-8)")
    parser.add_argument("--figure", default=None, help="ablation: where to draw the straggler overlap (PNG)")
    args = parser.parse_args(argv)
    meter, summary = LoadMeter(), Summary(quick=args.quick)
    try:
        for name, benchmark in BENCHMARKS.items():
            if args.name in ("all", name):
                console.rule(name)
                benchmark(args, summary)
    except RuntimeError as error:
        console.print(f"[red]error:[/red] {error}")
        return 1
    summary.print(load=meter.others())
    return 0


if __name__ == "__main__":
    sys.exit(main())
