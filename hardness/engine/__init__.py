"""The ensemble engine: K small MLPs trained as one vectorised computation, observed by subscribing hooks.

fit.py runs the epochs and talks to hooks, passes.py makes the passes over the data, kernels.py holds the
chunk arithmetic, observations.py the observations by name.
"""

from hardness.engine.fit import Engine, EpochState, FitResult, Hook, flops_per_sample_epoch
from hardness.engine.observations import HEAVY, NAMES, PER_CLASS, PER_SAMPLE
from hardness.engine.passes import compute_batch_order

__all__ = ["HEAVY", "NAMES", "PER_CLASS", "PER_SAMPLE", "Engine", "EpochState", "FitResult", "Hook",
           "compute_batch_order", "flops_per_sample_epoch"]
