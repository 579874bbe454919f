"""What a fix buys, as computation: the same ensembles (same splits, same initialisations) trained on the original
labels, on the corrected labels, and on the original labels without the corrected samples, all tested on the same
samples against the same reference labels. Built on the imbalance grid's units (hardness.studies.imbalance.grid)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import torch

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.studies.imbalance.grid import Cell, GridUnit, compute_split, evaluate_unit
from hardness.studies.imbalance.splits import ImbalanceSplit
from hardness.tracking import schema

ARMS = ("original", "corrected", "dropped")
"""Training labels: as the run saw them, with the corrections, or as seen but without the corrected samples."""


def choose_reference(dataset: Dataset, corrected: torch.Tensor) -> tuple[str, torch.Tensor]:
    """The labels test accuracy is measured against: the clean labels when label noise was injected into the data
    (the truth is known), else the corrected ones (the reviewer's word)."""
    return ("clean", dataset.clean_y) if bool(dataset.is_flipped.any()) else ("corrected", corrected)


def build_arm_split(split: ImbalanceSplit, arm: str, changed: torch.Tensor) -> ImbalanceSplit:
    """The split an arm trains on: the dropped arm leaves out the corrected samples [N bool], the others keep all."""
    if arm != "dropped":
        return split
    return replace(split, train=split.train[~changed[split.train]])


def measure_fix(dataset: Dataset, corrected: torch.Tensor, hard: torch.Tensor, config: Config) -> pd.DataFrame:
    """Test accuracy per arm, split (imbalance.hard_sets of them, stratified by `hard` [N bool] at
    imbalance.train_ratios[0]), initialisation (imbalance.inits) and test part (all, hard, easy): a long table with
    columns arm, split, init, part, acc (NaN for a diverged model). corrected [N] holds the corrected labels."""
    _, reference = choose_reference(dataset, corrected)
    changed = corrected != dataset.y
    rows = []
    for number in range(config.imbalance.hard_sets):
        cell = Cell(number, config.imbalance.train_ratios[0], 1.0)
        split = compute_split(hard, config, cell)
        for arm in ARMS:
            arm_split = build_arm_split(split, arm, changed)
            labels = reference.clone()  # test positions score against the reference; training ones teach the arm's
            labels[arm_split.train] = (corrected if arm == "corrected" else dataset.y)[arm_split.train]
            [result] = evaluate_unit(GridUnit((cell,), (arm_split,)), dataset=replace(dataset, y=labels), config=config)
            for part in schema.TEST_PARTS:
                for init, acc in enumerate(result.metrics[schema.part_metric("acc", part)]):
                    rows.append({"arm": arm, "split": number, "init": init, "part": part, "acc": float(acc)})
    return pd.DataFrame(rows)
