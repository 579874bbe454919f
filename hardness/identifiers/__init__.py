"""Hard-sample identifiers behind one contract; importing this package registers every built-in one."""

from hardness.identifiers import (
                                  aum,
                                  confidence,
                                  confident_learning,
                                  datamaps,
                                  el2n,
                                  energy,
                                  forgetting,
                                  grand,
                                  loss,
                                  margin,
                                  prototypicality,
                                  stragglers,
                                  vog,
)
from hardness.identifiers.base import (
                                  BASELINE,
                                  REGISTRY,
                                  Identification,
                                  get_identifier,
                                  gives_scores,
                                  gives_set,
                                  is_baseline,
                                  kind_of,
)

__all__ = ["BASELINE", "REGISTRY", "Identification", "get_identifier", "gives_scores", "gives_set", "is_baseline",
           "kind_of", "aum", "confidence", "confident_learning", "datamaps", "el2n", "energy", "forgetting", "grand",
           "loss", "margin", "prototypicality", "stragglers", "vog"]
