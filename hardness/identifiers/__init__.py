"""Hard-sample identifiers behind one contract; importing this package registers every built-in one."""

from hardness.identifiers import confidence, energy, stragglers
from hardness.identifiers.base import REGISTRY, Identification, get_identifier

__all__ = ["REGISTRY", "Identification", "get_identifier", "confidence", "energy", "stragglers"]
