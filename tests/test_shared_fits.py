"""Identifiers that read the same training share one fit, with the identifications they would compute alone."""

import pytest
import torch

from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.identifiers import shared
from hardness.identifiers.identify import (
    group_shared_fits,
    identify,
    identify_together,
)

PLANNED = ["confidence", "energy", "loss", "margin", "aum", "forgetting", "datamaps", "datamaps_variability", "vog"]


@pytest.fixture(scope="module")
def problem():
    config = load_config(None, ["data.subset_size=240", "train.epochs=12", "inversion.warmup=2",
                                "identifier.init=fresh", "identifier.loss_average=true"])
    return load_dataset(config.data, config.seed), config


def test_one_fit_gives_every_identification_it_would_give_alone(problem, monkeypatch):
    dataset, config = problem
    fits = []
    train_observed = shared.train_observed
    monkeypatch.setattr(shared, "train_observed", lambda *a, **k: fits.append(1) or train_observed(*a, **k))
    together = identify_together(dataset, config, PLANNED, 3)
    assert len(fits) == 1
    for name in PLANNED:
        alone = identify(dataset, config, name, 3)
        assert together[name].name == alone.name == name
        assert torch.equal(together[name].scores, alone.scores), name
        assert together[name].details.keys() == alone.details.keys()
        assert torch.equal(together[name].details["diverged"], alone.details["diverged"])
    assert len(fits) == 1 + len(PLANNED)
    assert not torch.equal(together["confidence"].scores, together["energy"].scores)


def test_groups_follow_the_seeds_each_identifier_gets(problem):
    _, config = problem
    names = ["stragglers", "confidence", "vog", "el2n", "energy", "datamaps", "margin"]
    assert group_shared_fits(config, names) == [("stragglers",), ("confidence", "vog", "energy", "datamaps", "margin"),
                                                ("el2n",)]
    shared_init = config.model_copy(update={"identifier": config.identifier.model_copy(update={"init": "shared"})})
    assert group_shared_fits(shared_init, names) == group_shared_fits(config, names)
    assert group_shared_fits(config, ["energy"]) == [("energy",)]


def test_a_single_name_is_identified_on_its_own(problem):
    dataset, config = problem
    found = identify_together(dataset, config, ("energy",), 2)
    assert torch.equal(found["energy"].scores, identify(dataset, config, "energy", 2).scores)
