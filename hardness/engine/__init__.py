"""The ensemble engine: K models trained as one vectorised computation, observed by subscribing hooks.

fit.py runs the epochs and talks to hooks; a backend makes the passes over the data: the mlp backend (backends.py,
with passes.py and the chunk arithmetic of kernels.py) or the module backend for any nn.Module (modules.py);
factory.py picks one; observations.py holds the observations by name.
"""

from hardness.engine.fit import Engine, EpochState, FitResult, Hook, flops_per_sample_epoch
from hardness.engine.observations import HEAVY, NAMES, PER_CLASS, PER_SAMPLE
from hardness.engine.passes import compute_batch_order

__all__ = ["HEAVY", "NAMES", "PER_CLASS", "PER_SAMPLE", "Engine", "EpochState", "FitResult", "Hook",
           "compute_batch_order", "flops_per_sample_epoch"]
