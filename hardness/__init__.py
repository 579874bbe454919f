"""hardness: find the hard samples (stragglers) in a dataset and measure how they distort test accuracy.

`import hardness` is instant: the Python API (hardness.api) and its libraries load on first use of one of its names,
so `hardness --help` imports no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {"score": "hardness.api", "find_hard": "hardness.api", "find_stragglers": "hardness.api",
         "diagnose": "hardness.api", "DiagnoseResult": "hardness.studies.diagnose.answer",
         "Config": "hardness.config", "Recorder": "hardness.identifiers.recorder",
         "ScoreResult": "hardness.identifiers.results", "HardResult": "hardness.identifiers.results",
         "StragglerResult": "hardness.identifiers.results"}
__all__ = ["Config", "DiagnoseResult", "HardResult", "Recorder", "ScoreResult", "StragglerResult", "__version__",
           "diagnose", "find_hard", "find_stragglers", "score"]

if TYPE_CHECKING:
    from hardness.api import diagnose, find_hard, find_stragglers, score
    from hardness.config import Config
    from hardness.identifiers.recorder import Recorder
    from hardness.identifiers.results import HardResult, ScoreResult, StragglerResult
    from hardness.studies.diagnose.answer import DiagnoseResult


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'hardness' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
