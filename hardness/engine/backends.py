"""The mlp backend: the SPEC's MLP through the engine's hand-written kernels (hardness.engine.kernels, passes).

It is what the engine ran before it had backends; the module backend (hardness.engine.modules) answers the same calls
for any nn.Module.
"""

from __future__ import annotations

import torch

from hardness.config import ModelConfig, TrainConfig
from hardness.engine.ensemble import Ensemble
from hardness.engine.kernels import Inputs, Kernels, prepare_inputs
from hardness.engine.observations import Deliver, PassObserver
from hardness.engine.passes import run_minibatch_epoch, run_pass


class MlpBackend:
    """Passes, mini-batch epochs and predictions of a stacked MLP `Ensemble`, with kernels per device."""

    def __init__(self, model: ModelConfig, train: TrainConfig, n_classes: int, *, skip_idle: bool = True) -> None:
        self.model, self.train, self.n_classes, self.skip_idle = model, train, n_classes, skip_idle
        self.low_precision = train.precision == "bf16"
        self._kernels: dict[torch.device, Kernels] = {}

    def kernels(self, device: torch.device) -> Kernels:
        """The kernels (and their reusable buffers) for tensors on `device`."""
        if device not in self._kernels:
            self._kernels[device] = Kernels(self.model.activation, self.low_precision, device)
        return self._kernels[device]

    def prepare(self, x: torch.Tensor, y: torch.Tensor, coverage: torch.Tensor | None) -> Inputs:
        return prepare_inputs(x, y, coverage)

    def observer(self, wanted: frozenset[str], ensemble: Ensemble, inputs: Inputs, latent_layer: int,
                 deliver: Deliver) -> PassObserver:
        return PassObserver(wanted, self.kernels(inputs.x.device), ensemble, inputs, self.n_classes, latent_layer,
                            deliver)

    def run_pass(self, ensemble: Ensemble, inputs: Inputs, weight: torch.Tensor, observer: PassObserver, *,
                 with_grads: bool, ranges: list[slice] | None = None) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        return run_pass(self.kernels(inputs.x.device), ensemble, inputs, weight, observer,
                        chunk_size=self.train.chunk_size, with_grads=with_grads, ranges=ranges)

    def run_minibatch_epoch(self, ensemble: Ensemble, optimizer, x: torch.Tensor, y: torch.Tensor,
                            train_mask: torch.Tensor, generator: torch.Generator) -> None:
        run_minibatch_epoch(self.kernels(x.device), ensemble, optimizer, x, y, train_mask, generator,
                            self.train.batch_size, skip_idle=self.skip_idle)

    def predict(self, ensemble: Ensemble, x: torch.Tensor) -> torch.Tensor:
        """Logits [K, M, n_classes] of every model on x [M, D], computed chunk by chunk."""
        kernels = self.kernels(x.device)
        out = torch.empty(ensemble.n_models, x.shape[0], self.n_classes, device=x.device)
        first = kernels.fold_first_layer(ensemble, None)
        if self.low_precision:
            x = x.to(torch.bfloat16)
        for start in range(0, x.shape[0], self.train.chunk_size):
            stop = min(start + self.train.chunk_size, x.shape[0])
            out[:, start:stop] = kernels.forward(ensemble, x[start:stop], first)[1].transpose(1, 2)
        return out
