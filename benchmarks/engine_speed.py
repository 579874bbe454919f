"""How fast is the ensemble engine? The same workload two ways in one process, on real MNIST, on one device.

    python -m benchmarks.engine_speed [--device auto|cpu|cuda --seeds 100 --subset-size 20000 --epochs 30
                                       --data-root ../shared/data (or an .npz of MNIST, scripts/gpu-check.sh)]

1. the engine: K models at once, full batch, radii of the first hidden layer and per-sample correctness
   every epoch (fp32, the default); `--also-observe margin,loss,true_prob,grad_norm` (repeatable) times it
   again with more observations subscribed, heavy ones to a subscriber that drops them (the engine's cost);
2. a straightforward per-seed loop of plain nn.Modules, as a researcher would write it: full batch,
   torch.optim.SGD, F.cross_entropy, radii every epoch with hardness.engine.radii.compute_radii (kept short:
   a few seeds x a few epochs, reported per model-epoch);
3. the engine in bf16 (`train.precision=bf16`): its speed, and how much it moves the radii, the
   inversion epochs and the per-sample correctness against fp32 after the same epochs.

Achieved GFLOP/s are compared with the device's fp32 matmul peak measured in the same run (a big sgemm, synchronised
on a GPU). Timings are per model-epoch (one training step plus the observation of all samples). Nothing is tracked.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from rich.table import Table

from benchmarks.common import LoadMeter, console, load_mnist, measure_peak_gflops, synchronize
from hardness.config import InversionConfig, ModelConfig, TrainConfig
from hardness.engine import Engine, Hook, flops_per_sample_epoch
from hardness.engine.devices import resolve_device
from hardness.engine.ensemble import build_ensemble, build_module, copy_into_module
from hardness.engine.radii import compute_radii
from hardness.identifiers.inversion import compute_inversion_epochs


class Recorder(Hook):
    """Engine hook: radii and correctness of every epoch (plus `extra` observations, dropped), and when each
    epoch's observation arrived."""

    def __init__(self, device: torch.device, extra: frozenset[str] = frozenset()) -> None:
        self.observes = frozenset({"radii", "correct"}) | extra
        self.device = device
        self.radii: list[torch.Tensor] = []
        self.times: list[float] = []
        self.correct: torch.Tensor | None = None

    def on_epoch_end(self, state) -> None:
        synchronize(self.device)
        self.times.append(time.perf_counter())
        self.radii.append(state.radii)
        self.correct = state.correct

    def seconds_per_epoch(self) -> float:
        """Median time between consecutive observations: one training step plus one observation pass."""
        return statistics.median(b - a for a, b in zip(self.times, self.times[1:]))


def run_engine(x, y, n_classes, model: ModelConfig, train: TrainConfig, seeds: list[int],
               extra: frozenset[str] = frozenset()) -> tuple[Recorder, float]:
    ensemble = build_ensemble(x.shape[1], n_classes, model, seeds, x.device)
    recorder = Recorder(x.device, extra)
    synchronize(x.device)
    start = time.perf_counter()
    Engine(model, train, n_classes).fit(ensemble, x, y, hooks=[recorder])
    synchronize(x.device)
    return recorder, time.perf_counter() - start


def run_loop(x, y, n_classes, model: ModelConfig, lr: float, seeds: list[int], epochs: int, *,
             reuse_forward: bool) -> float:
    """Median seconds per model-epoch of the plain per-seed loop (same initialisation as the engine's models)."""
    times = []
    for seed in seeds:
        module = copy_into_module(build_ensemble(x.shape[1], n_classes, model, [seed]), 0,
                                  build_module(x.shape[1], n_classes, model)).to(x.device)
        optimizer = torch.optim.SGD(module.parameters(), lr=lr)
        encoder, head = module[:2], module[2:]
        F.cross_entropy(module(x), y).backward()  # warm-up, untimed
        for _ in range(epochs):
            synchronize(x.device)
            start = time.perf_counter()
            hidden = encoder(x)
            loss = F.cross_entropy(head(hidden), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                latent = hidden if reuse_forward else encoder(x)
                compute_radii(latent.detach(), y, n_classes)
            synchronize(x.device)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass(frozen=True)
class EngineSpeed:
    """The headline numbers: seconds per model-epoch of the engine and of the per-seed loops, and the peak."""

    engine_s: float
    loop_s: float
    loop_reuse_s: float
    gflops: float
    peak_gflops: float


def main(argv: list[str] | None = None) -> EngineSpeed:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to train (auto: cuda when there, else cpu); the peak is measured there too")
    parser.add_argument("--seeds", type=int, default=100, help="models trained at once by the engine (K)")
    parser.add_argument("--subset-size", type=int, default=20000, help="MNIST samples (full batch)")
    parser.add_argument("--epochs", type=int, default=30, help="engine epochs (>= 25 to see inversion checks)")
    parser.add_argument("--data-root", default="../shared/data",
                        help="folder holding MNIST/raw/*-ubyte, or an .npz of its pixels x and labels y")
    parser.add_argument("--chunk-size", type=int, default=TrainConfig().chunk_size)
    parser.add_argument("--loop-seeds", type=int, default=3, help="seeds of the per-seed loop")
    parser.add_argument("--loop-epochs", type=int, default=5, help="epochs per seed of the per-seed loop")
    parser.add_argument("--bf16-speed-epochs", type=int, default=2, help="epochs of the bf16 speed run (all seeds)")
    parser.add_argument("--bf16-seeds", type=int, default=10, help="seeds compared with fp32 over all --epochs")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 runs")
    parser.add_argument("--also-observe", action="append", default=[], metavar="NAMES",
                        help="time the engine again with these comma-separated observations subscribed on top of "
                             "radii and correct (e.g. margin,loss,true_prob,grad_norm or input_grad); repeatable")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    x, y = (tensor.to(device) for tensor in load_mnist(args.data_root, args.subset_size, seed=0))
    n, d = x.shape
    n_classes = int(y.max()) + 1
    model = ModelConfig()
    train = TrainConfig(epochs=args.epochs, chunk_size=args.chunk_size)
    seeds = list(range(args.seeds))
    step_flops = flops_per_sample_epoch(d, model, n_classes) * n  # per model-epoch
    first_flops = 4 * d * model.width * n
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    console.print(f"[bold]engine speed[/bold]: torch {torch.__version__}, {device.type} ({where}); MNIST N={n}, D={d}; "
                  f"K={args.seeds}, {args.epochs} epochs, chunk {args.chunk_size}, net {d}-{model.width}x{model.depth}"
                  f"-{n_classes} {model.activation}, SGD lr {train.lr}, full batch, radii every epoch")

    meter = LoadMeter()
    peaks = [measure_peak_gflops(device=device)]
    recorder, fp32_total = run_engine(x, y, n_classes, model, train, seeds)
    fp32_epoch = recorder.seconds_per_epoch() / args.seeds
    observed = {names: run_engine(x, y, n_classes, model, train, seeds, frozenset(names.split(",")))[0]
                for names in args.also_observe}
    loop_separate = run_loop(x, y, n_classes, model, train.lr, seeds[: args.loop_seeds], args.loop_epochs,
                             reuse_forward=False)
    loop_reuse = run_loop(x, y, n_classes, model, train.lr, seeds[: args.loop_seeds], args.loop_epochs,
                          reuse_forward=True)
    bf16 = None
    if not args.no_bf16:
        bf16_train = train.model_copy(update={"precision": "bf16", "epochs": args.bf16_speed_epochs})
        bf16_speed, _ = run_engine(x, y, n_classes, model, bf16_train, seeds)
        compared = seeds[: args.bf16_seeds]
        bf16_run, _ = run_engine(x, y, n_classes, model, train.model_copy(update={"precision": "bf16"}), compared)
        bf16 = (bf16_speed.seconds_per_epoch() / args.seeds, bf16_run, len(compared))
    peaks.append(measure_peak_gflops(device=device))
    peak = max(peaks)
    others = meter.others()

    table = Table(title="Time per model-epoch (one training step + observing all samples)",
                  caption=f"{device.type} fp32 sgemm peak: {peak:.0f} GFLOP/s (best of "
                          f"{', '.join(f'{p:.0f}' for p in peaks)}, before and after); loops: {args.loop_seeds} "
                          f"seeds x {args.loop_epochs} epochs")
    table.add_column("run", overflow="fold")
    for column in ("ms", "GFLOP/s", "% peak", "engine faster by"):
        table.add_column(column, justify="right", no_wrap=True)

    def row(name: str, seconds: float) -> None:
        rate = step_flops / seconds / 1e9
        table.add_row(name, f"{seconds * 1e3:.2f}", f"{rate:.0f}", f"{100 * rate / peak:.0f}%",
                      f"{seconds / fp32_epoch:.2f}x")

    row(f"engine fp32, K={args.seeds}", fp32_epoch)
    for names, run in observed.items():
        row(f"engine fp32 + {names.replace(',', ', ')}", run.seconds_per_epoch() / args.seeds)
    row("loop, radii: no-grad forward", loop_separate)
    row("loop, radii: reuse forward", loop_reuse)
    if bf16 is not None:
        row(f"engine bf16, K={args.seeds}", bf16[0])
    console.print(table)

    paper = fp32_epoch * 100 * 500 * (20000 / n)
    first_rate = first_flops / fp32_epoch / 1e9
    varying = int((~(x == x[:1]).all(0)).sum())
    constant = d - min(d, -(-varying // 16) * 16)  # the engine keeps a multiple of 16 features in its GEMMs
    executed = (step_flops - first_flops * constant / d) / fp32_epoch / 1e9
    console.print(f"engine: {fp32_total:.1f} s for the whole fit ({args.epochs} epochs + final observation); "
                  f"first-layer products alone {first_rate:.0f} GFLOP/s = {100 * first_rate / peak:.0f}% of peak "
                  f"({100 * first_flops / step_flops:.0f}% of the step's FLOPs)")
    console.print(f"GFLOP/s count the nominal FLOPs; the engine skips {constant} constant features "
                  f"({100 * constant / d:.0f}% of layer one's products): executed {executed:.0f} GFLOP/s "
                  f"= {100 * executed / peak:.0f}% of peak")
    console.print(f"speed-up over the straightforward loop: {loop_separate / fp32_epoch:.2f}x "
                  f"({loop_reuse / fp32_epoch:.2f}x over the loop that reuses its forward for radii)")
    for names, run in observed.items():
        console.print(f"observing {names} on top of radii and correct costs "
                      f"{100 * (run.seconds_per_epoch() / args.seeds / fp32_epoch - 1):+.1f}% per model-epoch")
    console.print(f"estimated paper radii run, 100 seeds x 500 epochs x 20k samples: {paper / 60:.1f} min")
    if others > 0.05:
        console.print(f"[yellow]other processes used {others:.2f} cores on average during this run: timings are "
                      f"unreliable, run again on a quiet machine[/yellow]")

    if bf16 is not None:
        _, bf16_run, k = bf16
        fp32_radii = torch.stack(recorder.radii)[:, :k]
        bf16_radii = torch.stack(bf16_run.radii)
        difference = (fp32_radii - bf16_radii).abs()
        step = 5
        changes = (fp32_radii[step:] - fp32_radii[:-step]).abs()[-10:]
        typical = changes.median() if len(changes) else float("nan")
        rule = InversionConfig()
        fp32_inv = compute_inversion_epochs(fp32_radii, rule)
        bf16_inv = compute_inversion_epochs(bf16_radii, rule)
        flips = (recorder.correct[:k] != bf16_run.correct).float().mean()
        numbers = Table(title=f"bf16 against fp32: the first {k} seeds after {args.epochs} epochs")
        numbers.add_column("measure", no_wrap=True)
        numbers.add_column("value", justify="right", no_wrap=True)
        numbers.add_row("bf16 speed relative to fp32", f"{fp32_epoch / bf16[0]:.2f}x")
        numbers.add_row("max |radius difference|, last epoch", f"{difference[-1].max():.2e}")
        numbers.add_row("max |radius difference|, any epoch", f"{difference.max():.2e}")
        numbers.add_row("median |5-epoch radius change|, fp32, last 10 epochs", f"{float(typical):.2e}")
        if args.epochs >= rule.warmup + rule.check_every:
            numbers.add_row("(model, class) inverted in fp32 / bf16",
                            f"{int((fp32_inv >= 0).sum())} / {int((bf16_inv >= 0).sum())} of {fp32_inv.numel()}")
            numbers.add_row("(model, class) with a different inversion epoch", f"{int((fp32_inv != bf16_inv).sum())}")
        numbers.add_row("samples classified differently, last epoch", f"{100 * float(flips):.3f}%")
        console.print(numbers)
    return EngineSpeed(fp32_epoch, loop_separate, loop_reuse, step_flops / fp32_epoch / 1e9, peak)


if __name__ == "__main__":
    main()
