"""Write MNIST as one compressed .npz for the GPU check (scripts/gpu-check.sh prepare): x [70000, 28, 28] uint8 and
y [70000], train then test as `hardness` numbers them, so data.name npz prepares it exactly as data.name mnist."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hardness.config import DataConfig
from hardness.datasets import read_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default="../shared/data", help="folder holding MNIST/raw/*-ubyte")
    parser.add_argument("--out", type=Path, default=Path("shared-check/mnist.npz"))
    args = parser.parse_args()
    raw = read_source(DataConfig(name="mnist", root=args.data_root))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, x=raw.samples.reshape(raw.n_samples, 28, 28).numpy().astype(np.uint8),
                        y=raw.labels.numpy())
    print(f"{args.out}: {raw.n_samples} samples, {args.out.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
