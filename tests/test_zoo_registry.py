"""The zoo's plumbing: kinds, the `own` threshold method through the one dispatch table, `all`, the catalogue."""

import typing

import pytest
import torch

from hardness.catalogue import IDENTIFIER_ENTRIES, IDENTIFIERS
from hardness.config import ThresholdConfig, load_config
from hardness.errors import UserError
from hardness.identifiers import REGISTRY, Identification, gives_scores, gives_set
from hardness.identifiers.base import KINDS
from hardness.identifiers.hardsets import METHODS, check_threshold, compute_hard_sets

LABELS = torch.tensor([0, 0, 1, 1])
SCORES = torch.tensor([[0.1, 0.9, 0.5, 0.2]])
OWN = torch.tensor([[True, False, False, False]])


def test_the_catalogue_describes_exactly_the_registered_identifiers():
    assert IDENTIFIERS == tuple(sorted(REGISTRY)) == tuple(sorted(IDENTIFIER_ENTRIES))
    for name, entry in IDENTIFIER_ENTRIES.items():
        assert entry.kind in KINDS and all(entry), name
        assert not hasattr(REGISTRY[name], "kind"), f"{name}: its kind is the catalogue's alone"


def test_kinds_say_what_an_identifier_gives():
    assert (gives_scores("cleanlab"), gives_set("cleanlab")) == (True, True)
    assert (gives_scores("aum"), gives_set("aum")) == (True, False)
    assert (gives_scores("stragglers"), gives_set("stragglers")) == (False, True)


def test_every_threshold_method_has_one_entry_in_the_table():
    assert set(METHODS) == set(typing.get_args(ThresholdConfig.model_fields["method"].annotation))


@pytest.mark.parametrize("method, expected", [
    ("own", OWN),
    ("top_k", torch.tensor([[False, True, True, False]])),
    ("quantile", torch.tensor([[False, True, False, False]])),
    ("like_stragglers", torch.tensor([[False, True, True, False]])),
])
def test_an_identifier_with_scores_and_a_set_goes_through_every_method(method, expected):
    both = Identification("cleanlab", SCORES, OWN)
    threshold = ThresholdConfig(method=method, k=2 if method == "top_k" else None, quantile=0.75)
    reference = torch.tensor([[True, True, False, False]])
    assert torch.equal(compute_hard_sets(both, LABELS, 2, threshold, reference=reference), expected)


@pytest.mark.parametrize("method", ["own", "top_k", "quantile", "like_stragglers"])
def test_a_set_identifier_passes_through_whatever_the_method(method):
    threshold = ThresholdConfig(method=method, k=1 if method == "top_k" else None)
    assert torch.equal(compute_hard_sets(Identification("stragglers", None, OWN), LABELS, 2, threshold), OWN)


def test_own_refuses_score_only_identifiers_naming_those_with_a_set():
    with pytest.raises(UserError, match="aum, vog give only scores; identifiers with their own set: cleanlab, "
                                        "stragglers"):
        check_threshold(["stragglers", "aum", "cleanlab", "vog"], ThresholdConfig(method="own"))
    with pytest.raises(UserError, match="margin gives only scores"):
        compute_hard_sets(Identification("margin", SCORES, None), LABELS, 2, ThresholdConfig(method="own"))
    check_threshold(["stragglers", "cleanlab"], ThresholdConfig(method="own"))
    check_threshold(["aum"], ThresholdConfig())


def test_benchmark_identifiers_all_expands_to_every_registered_identifier():
    assert load_config(None, ["benchmark.identifiers=[all]"]).benchmark.identifiers == IDENTIFIERS
    with pytest.raises(UserError, match="'all' already names every identifier"):
        load_config(None, ["benchmark.identifiers=[all, aum]"])


@pytest.mark.parametrize("override, message", [("identifier.vog_checkpoints=1", "vog_checkpoints"),
                                               ("identifier.cleanlab_folds=1", "cleanlab_folds"),
                                               ("identifier.el2n_epoch=-1", "el2n_epoch")])
def test_zoo_options_are_checked(override, message):
    with pytest.raises(UserError, match=message):
        load_config(None, [override])
