"""The Lightning callback feeds a Recorder from a LightningModule's training steps; the CNN example runs."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hardness

REPOSITORY = Path(__file__).parent.parent
needs_lightning = pytest.mark.skipif(importlib.util.find_spec("lightning") is None,
                                     reason="Lightning is not installed: pip install -e '.[lightning]'")


@needs_lightning
def test_the_lightning_callback_records_every_epoch(tmp_path):
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from hardness.integrations.lightning import RecorderCallback

    class Classifier(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(4, 3)

        def training_step(self, batch, batch_idx):
            x, y, _ = batch
            logits = self.net(x)
            return {"loss": nn.functional.cross_entropy(logits, y), "logits": logits}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 4, generator=generator), torch.arange(40) % 3
    loader = DataLoader(TensorDataset(x, y, torch.arange(40)), batch_size=16, shuffle=True)
    recorder = hardness.Recorder(40, 3)
    trainer = pl.Trainer(max_epochs=3, callbacks=[RecorderCallback(recorder)], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(Classifier(), loader)
    assert recorder.epochs == 3 and bool(recorder.observed.all())
    assert np.isfinite(recorder.score("aum")).all() and recorder.score("forgetting").max() <= 3


@pytest.mark.slow
def test_the_cnn_recorder_example_finds_the_flipped_labels():
    result = subprocess.run([sys.executable, "examples/cnn_recorder.py", "--epochs", "15"], cwd=REPOSITORY,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    aurocs = [float(line.rsplit(" ", 1)[1]) for line in result.stdout.splitlines() if "AUROC" in line]
    assert len(aurocs) == 5 and min(aurocs) > 0.9, result.stdout
