"""The module backend: K independently initialised copies of any `nn.Module` trained at once through torch.func.

The K copies' parameters and buffers are stacked into [K, ...] tensors (`ModuleEnsemble`); one `vmap` of
`functional_call` over a template network on the meta device runs all of them on a chunk or on per-model mini-batches,
and autograd through it gives every model's gradient, which the engine's own optimisers apply (SGD, momentum, Adam,
weight decay, per-model masks). Dropout is drawn independently per model (`randomness="different"`). BatchNorm keeps
per-model running statistics and needs mini-batches of one size per model (refused otherwise, in one line).

Observations: a network whose train and eval behaviour differ (dropout, batch norm) is observed in eval mode by a pass
of its own; otherwise the full-batch training pass doubles as the observation, as in the mlp backend. The radii and
`latent` read the output of a named module (`architectures.default_latent`), through a forward hook.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap
from torch.nn import functional
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

from hardness.config import ModelConfig, TrainConfig
from hardness.engine.ensemble import build_ensemble
from hardness.engine.kernels import Inputs, Kernels, prepare_inputs
from hardness.engine.observations import Chunk, Deliver, PassObserver
from hardness.engine.passes import batch_weights, compute_batch_order
from hardness.errors import UserError

GRADIENT_BYTES = 64 * 2**20
"""Per-sample gradients (grad_norm, input_grad) are computed for pieces of samples holding at most about this much."""


@dataclass
class ModuleEnsemble:
    """Stacked state of K copies of one network: parameters and buffers by name, each [K, ...]."""

    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]

    @property
    def n_models(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def parameters(self) -> list[torch.Tensor]:
        """The trainable tensors, in the network's order (what the optimisers update)."""
        return list(self.params.values())

    def tensors(self) -> list[torch.Tensor]:
        """Parameters then buffers (batch norm's running statistics): everything a model's state is."""
        return [*self.params.values(), *self.buffers.values()]

    def select(self, models: torch.Tensor) -> ModuleEnsemble:
        """A copy holding only the given model rows."""
        return ModuleEnsemble({name: t[models].clone() for name, t in self.params.items()},
                              {name: t[models].clone() for name, t in self.buffers.items()})


def stack_networks(build, model_seeds: list[int], device: torch.device | str = "cpu") -> ModuleEnsemble:
    """K networks, network k built by `build()` with torch's generator seeded with model_seeds[k] (on the CPU, so every
    device starts from the same models), stacked."""
    networks = []
    for seed in model_seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            networks.append(build())
    params, buffers = stack_module_state(networks)
    return ModuleEnsemble({n: t.detach().to(device) for n, t in params.items()},
                          {n: t.to(device) for n, t in buffers.items()})


def stack_mlp(network: nn.Module, n_features: int, n_classes: int, config: ModelConfig, model_seeds: list[int],
              device: torch.device | str = "cpu") -> ModuleEnsemble:
    """The MLP with the mlp backend's initial draws (`build_ensemble`), so both backends start from the same models."""
    drawn = build_ensemble(n_features, n_classes, config, model_seeds, device)
    linears = [name for name, module in network.named_modules() if isinstance(module, nn.Linear)]
    params = {}
    for name, weight, bias in zip(linears, drawn.weights, drawn.biases):
        params[f"{name}.weight"], params[f"{name}.bias"] = weight, bias
    return ModuleEnsemble(params, {})


class ModuleBackend:
    """Passes, mini-batch epochs and predictions of a `ModuleEnsemble` of `network`'s architecture."""

    def __init__(self, network: nn.Module, shape: tuple[int, ...], latent: str, n_classes: int,
                 train: TrainConfig) -> None:
        self.template = copy.deepcopy(network).to("meta")
        self.shape, self.n_classes, self.train = shape, n_classes, train
        kinds = [type(m) for m in self.template.modules()]
        self.batchnorm = any(issubclass(kind, _BatchNorm) for kind in kinds)
        self.modes_differ = self.batchnorm or any(issubclass(kind, _DropoutNd) for kind in kinds)
        if train.precision != "fp32":
            raise UserError("train.precision bf16 is the mlp backend's; the module backend trains in fp32")
        if self.batchnorm and train.batch_size is None:
            raise UserError("the network has batch norm, whose statistics need mini-batches: set train.batch_size")
        self._capture, self._captured = False, None
        self._hook(latent)
        with torch.no_grad():
            self.latent_width = self._latent_width()
        self.n_features = math.prod(shape)
        self._kernels: dict[torch.device, Kernels] = {}

    def _hook(self, latent: str) -> None:
        """Keep the latent module's output (or, for "<name>:input", its input) of the last forward when capturing."""
        name, _, where = latent.partition(":")
        module = dict(self.template.named_modules())[name]

        def keep(value: torch.Tensor) -> None:
            if self._capture:
                self._captured = value.flatten(1)

        if where == "input":
            module.register_forward_pre_hook(lambda _, args: keep(args[0]))
        else:
            module.register_forward_hook(lambda _, args, output: keep(output))

    def _latent_width(self) -> int:
        self._capture = True
        self.template.eval()
        self.template(torch.empty(2, *self.shape, device="meta"))
        self._capture = False
        return int(self._captured.shape[1])

    def kernels(self, device: torch.device) -> Kernels:
        """Softmax pieces and reusable buffers on `device` (the observations share them with the mlp backend)."""
        if device not in self._kernels:
            self._kernels[device] = Kernels("tanh", False, device)
        return self._kernels[device]

    def _one(self, params: dict, buffers: dict, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One model's logits [P, C] and latent [P, w] (empty when not capturing) on x [P, *shape]."""
        logits = functional_call(self.template, (params, buffers), (x,))
        latent = self._captured if self._capture else logits[:, :0]
        return logits, latent

    def forward(self, ensemble: ModuleEnsemble, params: dict, x: torch.Tensor, *, training: bool,
                latent: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits [K, P, C] and latent [K, P, w] of every model on shared x [P, *shape] or per-model x [K, P, ...]."""
        self.template.train(training)
        self._capture = latent
        try:
            run = vmap(self._one, in_dims=(0, 0, 0 if x.dim() == len(self.shape) + 2 else None),
                       randomness="different")
            return run(params, ensemble.buffers, x)
        finally:
            self._capture, self._captured = False, None

    def prepare(self, x: torch.Tensor, y: torch.Tensor, coverage: torch.Tensor | None) -> Inputs:
        return prepare_inputs(x, y, coverage, split_constant=False)

    def observer(self, wanted: frozenset[str], ensemble: ModuleEnsemble, inputs: Inputs, latent_layer: int,
                 deliver: Deliver) -> PassObserver:
        return PassObserver(wanted, self.kernels(inputs.x.device), ensemble, inputs, self.n_classes, 0, deliver,
                            latent_width=self.latent_width, n_features=self.n_features,
                            gradients=ModuleGradients(self, ensemble))

    def run_pass(self, ensemble: ModuleEnsemble, inputs: Inputs, weight: torch.Tensor, observer: PassObserver, *,
                 with_grads: bool,
                 ranges: list[slice] | None = None) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """One chunked pass (see hardness.engine.passes.run_pass); every model takes part in every chunk (`ranges`
        is the mlp backend's and is not used: a model's zero weights add exact zeros)."""
        kernels = self.kernels(inputs.x.device)
        loss = torch.zeros(ensemble.n_models, dtype=torch.float64, device=inputs.x.device)
        leaves = {name: p.detach().requires_grad_() for name, p in ensemble.params.items()}
        grads = [torch.zeros_like(p) for p in ensemble.parameters()] if with_grads else None
        shared = with_grads and not self.modes_differ
        wants_latent = observer.radii or "latent" in observer.heavy
        for start in range(0, inputs.x.shape[0], self.train.chunk_size):
            stop = min(start + self.train.chunk_size, inputs.x.shape[0])
            x, y, w = inputs.x[start:stop].view(-1, *self.shape), inputs.y[start:stop], weight[:, start:stop]
            if not shared:
                logits, latent = self.forward(ensemble, ensemble.params, x, training=False, latent=wants_latent)
                self._observe(kernels, observer, loss, logits, latent, x, y, w, start, stop)
            if grads is None:
                continue
            with torch.enable_grad():
                logits, latent = self.forward(ensemble, leaves, x, training=True, latent=shared and wants_latent)
                chunk_loss = -(functional.log_softmax(logits, 2).gather(2, y.view(1, -1, 1).expand(len(w), -1, 1))
                               .squeeze(2) * w).sum()
                for total, g in zip(grads, torch.autograd.grad(chunk_loss, list(leaves.values()))):
                    total += g
            if shared:
                self._observe(kernels, observer, loss, logits.detach(), latent.detach(), x, y, w, start, stop)
        return loss, grads

    @staticmethod
    def _observe(kernels: Kernels, observer: PassObserver, loss: torch.Tensor, logits: torch.Tensor,
                 latent: torch.Tensor, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, start: int,
                 stop: int) -> None:
        """Add a chunk's weighted loss and hand its logits and latent to the observer, in the mlp kernels' layout."""
        index = y.view(1, 1, -1).expand(logits.shape[0], 1, -1)
        softmax = kernels.softmax(logits.transpose(1, 2).contiguous(), index)
        loss -= (softmax.log_p * w).sum(1, dtype=torch.float64)
        if observer.active:
            observer.observe(start, stop, [latent.transpose(1, 2)], softmax, x=x)

    def run_minibatch_epoch(self, ensemble: ModuleEnsemble, optimizer, x: torch.Tensor, y: torch.Tensor,
                            train_mask: torch.Tensor, generator: torch.Generator) -> None:
        """One epoch of mini-batches, each model over its own shuffled training samples (as the mlp backend's)."""
        counts = train_mask.sum(1)
        if self.batchnorm and bool((counts != counts[0]).any()):
            raise UserError("batch norm needs every model to train on the same number of samples; these training "
                            "sets differ in size (use an architecture without batch norm here)")
        order = compute_batch_order(train_mask, generator)
        size = self.train.batch_size
        leaves = {name: p.detach().requires_grad_() for name, p in ensemble.params.items()}
        for start in range(0, int(counts.max()), size):
            positions = order[:, start:start + size]
            valid, weight = batch_weights(start, positions.shape[1], counts)
            active = valid.any(1)
            kept = {name: b.clone() for name, b in ensemble.buffers.items()} if not bool(active.all()) else None
            with torch.enable_grad():
                logits, _ = self.forward(ensemble, leaves, x[positions].view(*positions.shape, *self.shape),
                                         training=True)
                batch_loss = -(functional.log_softmax(logits, 2).gather(2, y[positions].unsqueeze(2)).squeeze(2)
                               * weight).sum()
                grads = list(torch.autograd.grad(batch_loss, list(leaves.values())))
            if kept is not None:  # a model without samples in this batch keeps its running statistics
                for name, before in kept.items():
                    idle = ~active.view(-1, *([1] * (before.dim() - 1)))
                    ensemble.buffers[name].copy_(torch.where(idle, before, ensemble.buffers[name]))
            optimizer.step(grads, active)

    @torch.no_grad()
    def predict(self, ensemble: ModuleEnsemble, x: torch.Tensor) -> torch.Tensor:
        """Logits [K, M, n_classes] of every model (in eval mode) on x [M, D], chunk by chunk."""
        out = torch.empty(ensemble.n_models, x.shape[0], self.n_classes, device=x.device)
        for start in range(0, x.shape[0], self.train.chunk_size):
            chunk = x[start:start + self.train.chunk_size].view(-1, *self.shape)
            out[:, start:start + len(chunk)] = self.forward(ensemble, ensemble.params, chunk, training=False)[0]
        return out


class ModuleGradients:
    """grad_norm and input_grad of a module ensemble's chunk through vmap(grad), in pieces of bounded size."""

    def __init__(self, backend: ModuleBackend, ensemble: ModuleEnsemble) -> None:
        self.backend, self.ensemble = backend, ensemble
        self.n_params = sum(p[0].numel() for p in ensemble.parameters())

    def _sample_loss(self, params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = functional_call(self.backend.template, (params, buffers), (x.unsqueeze(0),))
        return functional.cross_entropy(logits, y.unsqueeze(0))

    def _true_logit(self, x: torch.Tensor, params: dict, buffers: dict, y: torch.Tensor) -> torch.Tensor:
        logits = functional_call(self.backend.template, (params, buffers), (x.unsqueeze(0),))[0]
        return logits.gather(0, y.unsqueeze(0)).squeeze(0)

    def _piece(self, per_sample: int) -> int:
        return max(1, GRADIENT_BYTES // (4 * self.ensemble.n_models * per_sample))

    def grad_norm(self, chunk: Chunk) -> torch.Tensor:
        """[K, C] L2 norm of each sample's loss gradient w.r.t. all parameters of its model (eval mode)."""
        x, y = chunk.x, chunk.softmax.index[0, 0]
        self.backend.template.eval()
        per_model = vmap(vmap(grad(self._sample_loss), in_dims=(None, None, 0, 0)), in_dims=(0, 0, None, None))
        out = torch.empty(self.ensemble.n_models, len(x), device=x.device)
        step = self._piece(self.n_params)
        with torch.enable_grad():
            for start in range(0, len(x), step):
                part = slice(start, start + step)
                grads = per_model(self.ensemble.params, self.ensemble.buffers, x[part], y[part])
                out[:, part] = sum(g.flatten(2).square().sum(2) for g in grads.values()).sqrt()
        return out

    def input_grad(self, chunk: Chunk, piece: slice) -> torch.Tensor:
        """[K, P, D] gradient of the true-class logit w.r.t. the input, for the chunk's samples `piece` (eval mode)."""
        x, y = chunk.x[piece], chunk.softmax.index[0, 0, piece]
        self.backend.template.eval()
        per_model = vmap(vmap(grad(self._true_logit), in_dims=(0, None, None, 0)), in_dims=(None, 0, 0, None))
        with torch.enable_grad():
            return per_model(x, self.ensemble.params, self.ensemble.buffers, y).flatten(2)
