"""Training dynamics from a loop `hardness` does not own: feed each mini-batch's logits, get the zoo's logit scores.

    rec = hardness.Recorder(n_samples, n_classes)
    for epoch in range(epochs):
        for indices, x, y in loader:
            logits = model(x)
            ...                                  # the loop's own loss, backward and step
            rec.update(indices, logits, y)
        rec.end_epoch()
    rec.score("aum"), rec.find_hard("forgetting", threshold=0.9)

An epoch's observation of a sample is the logits of its last mini-batch in that epoch (the model as that batch saw
it); samples a loop skipped in an epoch are not observed then. The identifiers read what the engine's do: AUM, data
maps and the averaged loss over every epoch observed, forgetting over the transitions between observations (a
sample never classified correctly scores the number of epochs), EL2N at epoch `el2n_epoch` (the last one, if
training was shorter) and loss, margin, confidence and energy on the last observation. Memory is O(N x C): the last
logits of every sample and a few running sums [N], unless `keep_history` also keeps every epoch's logits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hardness.config import Config
from hardness.datasets.prepare import Dataset
from hardness.datasets.recording import read_recording_file, write_recording
from hardness.engine.divergence import DIVERGED
from hardness.identifiers.base import Identification
from hardness.identifiers.confidence import score_confidence
from hardness.identifiers.dynamics import Moments
from hardness.identifiers.el2n import score_el2n
from hardness.identifiers.energy import score_energy

IDENTIFIERS = ("aum", "confidence", "datamaps", "datamaps_variability", "el2n", "energy", "forgetting", "loss",
               "margin")
"""The identifiers a recording scores: those that read logits alone."""


class Recorder:
    """Records one training run's per-sample logits epoch by epoch and scores its samples (higher = harder)."""

    def __init__(self, n_samples: int, n_classes: int, *, keep_history: bool = False, el2n_epoch: int = 20):
        if n_samples < 1 or n_classes < 2:
            raise ValueError(f"a recording needs n_samples >= 1 and n_classes >= 2, got {n_samples} and {n_classes}")
        self.n_samples, self.n_classes, self.el2n_epoch, self.keep_history = n_samples, n_classes, el2n_epoch, keep_history
        self.epochs = 0
        self.labels = torch.full((n_samples,), -1, dtype=torch.long)
        self.last_logits = torch.zeros(n_samples, n_classes)
        self.observed = torch.zeros(n_samples, dtype=torch.bool)
        self.margin, self.true_prob, self.loss = (Moments((1, n_samples)) for _ in range(3))
        self.forgotten = torch.zeros(n_samples, dtype=torch.long)
        self.learned = torch.zeros(n_samples, dtype=torch.bool)
        self.previous = torch.zeros(n_samples, dtype=torch.bool)
        self.el2n = torch.full((n_samples,), float("nan"))
        self._epoch_logits = torch.zeros(n_samples, n_classes)
        self._seen = torch.zeros(n_samples, dtype=torch.bool)
        self.history: list[torch.Tensor] = []

    def update(self, indices: Any, logits: Any, labels: Any) -> None:
        """One mini-batch: sample positions [B] (0..N-1), logits [B, C] and labels [B] as class ids, from numpy or
        torch on any device; nothing keeps a gradient."""
        positions = _as_tensor(indices).long().reshape(-1)
        values = _as_tensor(logits).float()
        targets = _as_tensor(labels).long().reshape(-1)
        if values.shape != (len(positions), self.n_classes) or len(targets) != len(positions):
            raise ValueError(f"update takes indices [B], logits [B, {self.n_classes}] and labels [B]; got "
                             f"{len(positions)} indices, logits {tuple(values.shape)} and {len(targets)} labels")
        if len(positions) and (int(positions.min()) < 0 or int(positions.max()) >= self.n_samples):
            raise ValueError(f"indices must be sample positions 0..{self.n_samples - 1}")
        if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= self.n_classes):
            raise ValueError(f"labels must be class ids 0..{self.n_classes - 1}")
        self._epoch_logits[positions] = values
        self.labels[positions] = targets
        self._seen[positions] = True

    def end_epoch(self) -> None:
        """Fold the epoch's observations into the running accumulators."""
        seen = self._seen.nonzero().flatten()
        self.epochs += 1
        if self.keep_history:
            epoch = torch.full_like(self._epoch_logits, float("nan"))
            epoch[seen] = self._epoch_logits[seen]
            self.history.append(epoch)
        if len(seen) == 0:
            return
        logits, labels = self._epoch_logits[seen], self.labels[seen]
        self.last_logits[seen] = logits
        self.observed[seen] = True
        one = torch.zeros(1, dtype=torch.long)
        self.margin.add(one, seen, _margin(logits, labels)[None])
        self.true_prob.add(one, seen, torch.softmax(logits, -1).gather(1, labels[:, None]).squeeze(1)[None])
        self.loss.add(one, seen, F.cross_entropy(logits, labels, reduction="none")[None])
        correct = logits.argmax(1) == labels
        self.forgotten[seen] += (self.previous[seen] & ~correct).long()
        self.previous[seen], self.learned[seen] = correct, self.learned[seen] | correct
        if self.epochs == self.el2n_epoch:
            self.el2n[seen] = score_el2n(torch.softmax(logits, -1), labels)
        self._seen.zero_()

    def score(self, name: str, *, loss_average: bool = False, confidence_variant: str = "max_logit",
              temperature: float = 1.0) -> np.ndarray:
        """Scores [N] of identifier `name` (one of IDENTIFIERS; higher = harder), NaN for a sample never observed."""
        if name not in IDENTIFIERS:
            raise ValueError(f"a recording of logits scores {', '.join(IDENTIFIERS)}; not {name!r}")
        if self.epochs == 0:
            raise ValueError("nothing recorded yet: call end_epoch() after each epoch's updates")
        scores = self._scores(name, loss_average, confidence_variant, temperature).double()
        return torch.where(self.observed, scores, torch.nan).numpy()

    def _scores(self, name: str, loss_average: bool, variant: str, temperature: float) -> torch.Tensor:
        last, labels = self.last_logits, self.labels.clamp_min(0)
        if name == "aum":
            return -self.margin.mean[0]
        if name == "datamaps":
            return -self.true_prob.mean[0]
        if name == "datamaps_variability":
            return self.true_prob.std[0]
        if name == "forgetting":
            return torch.where(self.learned, self.forgotten, self.epochs).float()
        if name == "loss":
            return self.loss.mean[0] if loss_average else F.cross_entropy(last, labels, reduction="none")
        if name == "margin":
            return -_margin(last, labels)
        if name == "confidence":
            return score_confidence(last, labels, variant=variant)
        if name == "energy":
            return score_energy(last, temperature=temperature)
        latest = score_el2n(torch.softmax(last, -1), labels)  # for training shorter than el2n_epoch
        return torch.where(torch.isnan(self.el2n), latest, self.el2n)

    def find_hard(self, name: str, *, threshold: int | float = 0.9, **options: Any) -> np.ndarray:
        """Hard mask [N] of identifier `name`: the `threshold` highest scores for a count, or the scores above the
        `threshold` quantile for a fraction (0.9: the hardest 10%); ties as hardness.identifiers.thresholds."""
        from hardness.identifiers.thresholds import flag_quantile, flag_top_k

        scores = torch.from_numpy(self.score(name, **options))
        ranked = torch.where(torch.isnan(scores), -torch.inf, scores)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError("threshold is a count (int) or a quantile (float in (0, 1))")
        mask = flag_top_k(ranked, threshold) if isinstance(threshold, int) else flag_quantile(ranked, threshold)
        return (mask & ~torch.isnan(scores)).numpy()

    def save(self, path: str | Path) -> Path:
        """Write the recording to an .npz file (no pickles; Recorder.load reads it back)."""
        meta = {"n_samples": self.n_samples, "n_classes": self.n_classes, "epochs": self.epochs,
                "el2n_epoch": self.el2n_epoch, "keep_history": self.keep_history}
        arrays = {name: value.numpy() for name, value in self._state().items()}
        if self.history:
            arrays["history"] = torch.stack(self.history).numpy()
        return write_recording(Path(path), meta, arrays)

    @classmethod
    def load(cls, path: str | Path) -> Recorder:
        """A recording written by save()."""
        meta, arrays = read_recording_file(path)
        recorder = cls(meta["n_samples"], meta["n_classes"], keep_history=meta["keep_history"],
                       el2n_epoch=meta["el2n_epoch"])
        recorder.epochs = meta["epochs"]
        for name, value in recorder._state().items():
            value.copy_(torch.from_numpy(arrays[name]))
        recorder.history = list(torch.from_numpy(arrays["history"])) if "history" in arrays else []
        return recorder

    def _state(self) -> dict[str, torch.Tensor]:
        """Every accumulator by name (views: loading copies into them)."""
        return {"labels": self.labels, "last_logits": self.last_logits, "observed": self.observed,
                "forgotten": self.forgotten, "learned": self.learned, "previous": self.previous, "el2n": self.el2n,
                **{f"{name}_{part}": getattr(getattr(self, name), part) for name in ("margin", "true_prob", "loss")
                   for part in ("count", "mean", "m2")}}


def identify_recording(dataset: Dataset, config: Config, name: str) -> Identification:
    """Identifier `name`'s scores [1, N] read from the recording at data.path, in the prepared dataset's order: one
    model, the recorded training."""
    recorder = Recorder.load(config.data.path)
    option = config.identifier
    scores = recorder.score(name, loss_average=option.loss_average, confidence_variant=option.confidence_variant,
                            temperature=option.temperature)
    ordered = torch.from_numpy(scores).float()[dataset.index].unsqueeze(0)
    return Identification(name, ordered, None, {DIVERGED: torch.zeros(1, dtype=torch.bool)})


def _margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """True-class logit minus the largest other [B] (the engine's margin)."""
    others = logits.scatter(1, labels[:, None], -torch.inf)
    return logits.gather(1, labels[:, None]).squeeze(1) - others.amax(1)


def _as_tensor(values: Any) -> torch.Tensor:
    """A CPU tensor without grad from a tensor on any device, a NumPy array or a list."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu")
    return torch.as_tensor(np.asarray(values))
