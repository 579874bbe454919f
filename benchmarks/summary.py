"""The closing table of `python -m benchmarks`: every figure measured, with the issue's target and whether it is met."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table

from benchmarks.common import console
from benchmarks.end_to_end import CommandTiming
from benchmarks.engine_speed import EngineSpeed
from benchmarks.reference_style import BaselineTiming

TRACKING_SHARE_TARGET = 0.03
PEAK_SHARE_TARGET = 0.85
STARTUP_TARGET_S = 10.0
REFERENCE_RATIO_TARGET = 50.0
BENCHMARK_TARGET_S = 3600.0
API_OVERHEAD_TARGET = 0.05
UPDATE_SHARE_TARGET = 0.05
TARGET_MODULE_RATIO = 2.0


@dataclass
class Row:
    section: str
    measure: str
    value: str
    target: str = ""
    met: bool | None = None


@dataclass
class Summary:
    """Rows gathered while the benchmarks run, printed once at the end."""

    quick: bool
    rows: list[Row] = field(default_factory=list)

    def add(self, section: str, measure: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append(Row(section, measure, value, target, met))

    def phases(self, section: str, run: CommandTiming) -> None:
        """Wall time and its split, with tracking's share against the target."""
        share = run.tracking_s / run.wall_s
        self.add(section, "wall time", f"{run.wall_s:.1f} s")
        self.add(section, "start-up (launch to first epoch)", f"{run.startup_s:.1f} s", f"<= {STARTUP_TARGET_S:.0f} s",
                 run.startup_s <= STARTUP_TARGET_S)
        biggest = max(run.fits, key=lambda fit: fit["seconds"], default=None)
        longest = "" if biggest is None else (f" (longest: {biggest['models']} models x {biggest['samples']} samples x "
                                               f"{biggest['epochs']} epochs, {biggest['gflops']:.0f} GFLOP/s)")
        self.add(section, "training (engine fits)", f"{run.training_s:.1f} s in {len(run.fits)} fits{longest}")
        self.add(section, "tracking (main thread in MLflow calls)", f"{run.tracking_s:.1f} s = {100 * share:.1f}%",
                 f"<= {100 * TRACKING_SHARE_TARGET:.0f}%", share <= TRACKING_SHARE_TARGET)
        self.add(section, "other (tables, figures, scoring, exit)", f"{run.other_s:.1f} s")

    def api(self, numbers) -> None:
        """The API against the CLI on the same computation, and Recorder.update against a CNN training step."""
        for label, seconds in (("untracked", numbers.api_s), ("tracked", numbers.api_tracked_s)):
            extra = seconds / numbers.cli_s - 1
            self.add("api", f"hardness.find_hard {label} vs hardness identify", f"{seconds:.2f} s vs {numbers.cli_s:.2f} s "
                     f"({100 * extra:+.1f}%)", f"<= +{100 * API_OVERHEAD_TARGET:.0f}%", extra <= API_OVERHEAD_TARGET)
        share = numbers.update_ms / numbers.step_ms
        self.add("api", "Recorder.update vs a CNN step (batch 128)", f"{numbers.update_ms:.3f} ms vs "
                 f"{numbers.step_ms:.2f} ms ({100 * share:.1f}%)", f"<= {100 * UPDATE_SHARE_TARGET:.0f}%",
                 share <= UPDATE_SHARE_TARGET)

    def module(self, results) -> None:
        """The module backend's ratio over the per-seed loop; the target applies to the small CNN at K = 10."""
        for r in results:
            target = r.workload == "small CNN, K = 10"
            self.add("module", f"{r.workload}: ms per model-epoch", f"{r.ensemble_ms:,.0f} vs {r.loop_ms:,.0f} loop "
                     f"= {r.ratio:.2f}x", f">= {TARGET_MODULE_RATIO:.0f}x" if target else "",
                     r.ratio >= TARGET_MODULE_RATIO if target else None)

    def engine(self, speed: EngineSpeed) -> None:
        """The engine alone: its rate against the peak and how much faster than the per-seed loops."""
        self.add("engine", "ms per model-epoch (100 seeds, 20k MNIST)", f"{speed.engine_s * 1e3:.2f} ms")
        self.add("engine", "rate", f"{speed.gflops:.0f} GFLOP/s = {100 * speed.gflops / speed.peak_gflops:.0f}% of "
                 f"{speed.peak_gflops:.0f} peak", f">= {100 * PEAK_SHARE_TARGET:.0f}%",
                 speed.gflops >= PEAK_SHARE_TARGET * speed.peak_gflops)
        self.add("engine", "faster than the per-seed nn.Module loop", f"{speed.loop_s / speed.engine_s:.1f}x "
                 f"({speed.loop_reuse_s / speed.engine_s:.1f}x when the loop reuses its forward for radii)")

    def grid(self, numbers: dict) -> None:
        """One grid unit old plan against new, and the projected training time of the 20k benchmark."""
        unit, (before, after) = numbers["unit"], numbers["total"]
        self.add("grid", "one unit, old plan / now", f"{unit['before'].seconds / unit['after'].seconds:.2f}x")
        self.add("grid", "benchmark-mnist-20k training, projected", f"{before / 60:.0f} min before, {after / 60:.0f} "
                 f"min now", f"<= {BENCHMARK_TARGET_S / 60:.0f} min", after <= BENCHMARK_TARGET_S)

    def tracking(self, numbers) -> None:
        """Child runs of the radii run, old way against now, per store, and the share of a 420 s run they make."""
        for found in numbers.backends:
            share = found.share(numbers.seeds, numbers.training_s, "new")
            self.add("tracking", f"{found.children} children on {found.backend}: old / now",
                     f"{found.old.wall_s:.1f} s / {found.new.wall_s:.1f} s = {found.ratio:.1f}x")
            self.add("tracking", f"{numbers.seeds} children on {found.backend}, share of {numbers.training_s:.0f} s "
                     f"of training", f"{100 * share:.1f}%", f"<= {100 * TRACKING_SHARE_TARGET:.0f}%",
                     share <= TRACKING_SHARE_TARGET)

    def radii(self, run: CommandTiming, *, peak: float, baseline: BaselineTiming, model_epochs: float) -> None:
        """The radii run: phases, rate against the peak, ratios against the reference-style loop."""
        section = "radii run" + (" (quick)" if self.quick else "")
        self.phases(section, run)
        rate = run.gflops()
        self.add(section, "training rate", f"{rate:.0f} GFLOP/s = {100 * rate / peak:.0f}% of {peak:.0f} peak",
                 f">= {100 * PEAK_SHARE_TARGET:.0f}%", rate >= PEAK_SHARE_TARGET * peak)
        per_model_epoch = run.training_s / model_epochs
        self.add(section, "reference-style loop", f"{baseline.seconds_per_model_epoch * 1e3:.0f} ms per model-epoch "
                 f"({baseline.seeds} seeds x {baseline.epochs} epochs)")
        self.add(section, "faster than reference-style, training",
                 f"{baseline.seconds_per_model_epoch / per_model_epoch:.0f}x")
        end_to_end = baseline.seconds_per_model_epoch * model_epochs / run.wall_s
        self.add(section, "faster than reference-style, end to end", f"{end_to_end:.0f}x",
                 f">= {REFERENCE_RATIO_TARGET:.0f}x", end_to_end >= REFERENCE_RATIO_TARGET)

    def study(self, run: CommandTiming) -> None:
        """The identifier benchmark: phases, and against the hour when it ran in full."""
        section = "identifier benchmark" + (" (quick)" if self.quick else "")
        self.phases(section, run)
        if not self.quick:
            self.add(section, "benchmark-mnist-20k end to end", f"{run.wall_s / 60:.1f} min",
                     f"<= {BENCHMARK_TARGET_S / 60:.0f} min", run.wall_s <= BENCHMARK_TARGET_S)

    def print(self, *, load: float) -> None:
        table = Table(title="hardness benchmarks" + (" (--quick)" if self.quick else ""))
        for column in ("section", "measure", "value", "target", "met"):
            table.add_column(column, overflow="fold")
        for row in self.rows:
            met = "" if row.met is None else ("[green]yes[/green]" if row.met else "[red]no[/red]")
            table.add_row(row.section, row.measure, row.value, row.target, met)
        console.print(table)
        if load > 0.1:
            console.print(f"[yellow]other processes kept {load:.2f} cores busy on average: timings are unreliable, "
                          f"run again on a quiet machine[/yellow]")
