"""Hard-sample identifiers behind one contract; importing this package registers every built-in one."""

from hardness.identifiers import confidence, energy, stragglers
from hardness.identifiers.base import BASELINE, REGISTRY, Identification, get_identifier, is_baseline, kind_of

__all__ = ["BASELINE", "REGISTRY", "Identification", "get_identifier", "is_baseline", "kind_of",
           "confidence", "energy", "stragglers"]
