"""Your own training loop, hardness's identifiers: a small CNN trained on the 8x8 digits with a plain torch loop,
10% of its labels flipped, and a hardness.Recorder fed each mini-batch's logits. At the end every logit identifier
ranks the samples, and the flipped labels come out on top.

    python examples/cnn_recorder.py --epochs 30
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import hardness


def flip_labels(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels, bool mask of the flipped ones): `fraction` of the labels moved to another class at random."""
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), size=round(fraction * len(labels)), replace=False)
    noisy = labels.copy()
    noisy[flipped] = (noisy[flipped] + rng.integers(1, 10, size=len(flipped))) % 10
    mask = np.zeros(len(labels), dtype=bool)
    mask[flipped] = True
    return noisy, mask


def small_cnn() -> nn.Module:
    """Two convolutions and a linear head for 1 x 8 x 8 images."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def train_with_recorder(images: torch.Tensor, labels: torch.Tensor, *, epochs: int, batch_size: int = 128,
                        seed: int = 0) -> hardness.Recorder:
    """Train the CNN with Adam on shuffled mini-batches, recording every batch's logits."""
    torch.manual_seed(seed)
    model, recorder = small_cnn(), hardness.Recorder(len(labels), 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(labels)).split(batch_size):
            logits = model(images[batch])
            loss = nn.functional.cross_entropy(logits, labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            recorder.update(batch, logits, labels[batch])
        recorder.end_epoch()
    return recorder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    digits = load_digits()
    noisy, flipped = flip_labels(digits.target, 0.1, seed=0)
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16
    recorder = train_with_recorder(images, torch.tensor(noisy), epochs=args.epochs)
    from sklearn.metrics import roc_auc_score

    for name in ("aum", "loss", "forgetting", "datamaps", "margin"):
        print(f"{name:>10}: AUROC of the flipped labels {roc_auc_score(flipped, recorder.score(name)):.3f}")
    hardest = np.argsort(-recorder.score("aum"))[:10]
    print("10 hardest by AUM:", hardest.tolist(), "flipped:", flipped[hardest].sum(), "of 10")


if __name__ == "__main__":
    main()
