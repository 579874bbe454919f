"""A Lightning callback that feeds a hardness.Recorder from a LightningModule's training steps (pip install
'hardness[lightning]').

The module's `training_step` returns a dict holding the loss and the batch's logits ({"loss": loss, "logits":
logits}); the callback reads the samples' positions and labels from the batch, by default `batch[2]` and `batch[1]`
(a dataset yielding (x, y, index)), or through `indices=` and `labels=` functions of the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from lightning.pytorch import Callback
except ImportError as error:  # the optional extra is missing: say which
    raise ImportError("hardness.integrations.lightning needs Lightning: pip install 'hardness[lightning]'") from error

from hardness.identifiers.recorder import Recorder


class RecorderCallback(Callback):
    """Records every training batch's logits into `recorder` and closes its epoch when Lightning closes one."""

    def __init__(self, recorder: Recorder, *, indices: Callable[[Any], Any] = lambda batch: batch[2],
                 labels: Callable[[Any], Any] = lambda batch: batch[1]):
        self.recorder, self.indices, self.labels = recorder, indices, labels

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not isinstance(outputs, dict) or "logits" not in outputs:
            raise ValueError("RecorderCallback needs training_step to return {'loss': loss, 'logits': logits}")
        self.recorder.update(self.indices(batch), outputs["logits"], self.labels(batch))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.recorder.end_epoch()
