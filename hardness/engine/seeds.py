"""Seed derivation: every random stream of a run (model inits, retries, grid inits, error models) from one base seed."""

from __future__ import annotations

import numpy as np

RETRY_STREAM = 0
"""Retry j of the straggler identification uses stream RETRY_STREAM + j (j >= 1); stream 0 is the first attempt."""
INIT_STREAM = 1000
"""Initialisations of the imbalance grid's models."""
ERROR_STREAM = 2000
"""Models that measure class error rates for the benchmark's correlation."""
FRESH_STREAM = 3000
"""Score identifiers trained from a fresh initialisation (`identifier.init: fresh`), as the reference code did."""

INJECT_STREAM = 4000
"""Which samples the detection benchmark injects hardness into, and how."""
REFERENCE_STREAM = 5000
"""The detection benchmark's reference models (instance-dependent flips) and their folds."""


def derive_model_seeds(seed: int, n_models: int, stream: int = 0) -> list[int]:
    """Well-mixed 31-bit init seeds for models 0..n_models-1; each stream is independent of the others."""
    return [int(np.random.SeedSequence([seed, k, stream]).generate_state(1)[0] >> 1) for k in range(n_models)]
