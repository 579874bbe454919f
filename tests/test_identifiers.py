"""Identifier contract over every registered identifier, and the score functions against hand computation."""

import math

import pytest
import torch

from hardness.config import load_config
from hardness.datasets.prepare import load_dataset
from hardness.engine.seeds import derive_model_seeds
from hardness.errors import HardnessError
from hardness.identifiers import REGISTRY, get_identifier
from hardness.identifiers.base import KINDS, kind_of
from hardness.identifiers.confidence import score_confidence
from hardness.identifiers.energy import score_energy
from hardness.identifiers.thresholds import flag_top_k
from hardness.studies.common.scoring import score_hard_set, score_ranking

LOGITS = torch.tensor([[[2.0, 0.0, 0.0], [0.5, 0.4, 0.1]]])  # K=1, N=2, C=3
LABELS = torch.tensor([0, 2])


def test_confidence_scores_by_hand():
    assert score_confidence(LOGITS, LABELS).tolist() == [[-2.0, -0.5]]
    probabilities = [math.exp(2) / (math.exp(2) + 2), math.exp(0.1) / (math.exp(0.5) + math.exp(0.4) + math.exp(0.1))]
    assert torch.allclose(score_confidence(LOGITS, LABELS, variant="true_class_probability"),
                          -torch.tensor([probabilities]))
    with pytest.raises(ValueError, match="max_logit"):
        score_confidence(LOGITS, LABELS, variant="entropy")


def test_energy_by_hand_and_temperature():
    expected = [-math.log(math.exp(2) + 2), -math.log(math.exp(0.5) + math.exp(0.4) + math.exp(0.1))]
    assert torch.allclose(score_energy(LOGITS), torch.tensor([expected]))
    expected_t2 = [-2 * math.log(math.exp(1) + 2)]
    assert torch.allclose(score_energy(LOGITS[:, :1], temperature=2.0), torch.tensor([expected_t2]))


def test_unknown_identifier_lists_the_valid_ones():
    with pytest.raises(HardnessError, match=", ".join(sorted(REGISTRY))):
        get_identifier("vibes")


def test_model_seeds_are_deterministic_and_streams_differ():
    assert derive_model_seeds(0, 3) == derive_model_seeds(0, 3)
    assert derive_model_seeds(0, 3) != derive_model_seeds(0, 3, stream=1) != derive_model_seeds(1, 3)
    assert len(set(derive_model_seeds(0, 50))) == 50


@pytest.fixture(scope="module")
def small():
    config = load_config(None, ["seed=1", "train.epochs=30", "inversion.warmup=5", "data.subset_size=200"])
    return load_dataset(config.data, config.seed), config


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_identifier_keeps_the_contract(small, name):
    dataset, config = small
    seeds = derive_model_seeds(config.seed, 2)
    identifier = get_identifier(name)
    result = identifier.identify(dataset, config, seeds)
    assert result.name == name
    gives_scores, gives_set = KINDS[kind_of(name)]
    assert (result.scores is not None, result.hard is not None) == (gives_scores, gives_set)
    for tensor in (result.scores, result.hard):
        if tensor is not None:
            assert tensor.shape == (2, dataset.n_samples) and torch.isfinite(tensor.float()).all()
    if result.hard is not None:
        assert result.hard.dtype == torch.bool
    again = get_identifier(name).identify(dataset, config, seeds)
    for first, second in ((result.scores, again.scores), (result.hard, again.hard)):
        assert first is None or torch.equal(first, second)


def test_flipped_labels_rank_hardest_for_true_class_probability():
    """Planted answer: with 10% of labels flipped, models that have not memorised them find them hardest."""
    config = load_config(None, ["train.epochs=60", "data.subset_size=400", "data.label_noise=0.1",
                                "identifier.confidence_variant=true_class_probability"])
    dataset = load_dataset(config.data, config.seed)
    result = get_identifier("confidence").identify(dataset, config, derive_model_seeds(0, 2))
    flipped = torch.isin(dataset.index, dataset.flipped)
    top = flag_top_k(result.scores, int(flipped.sum()))
    recall = [score_hard_set(row, flipped)["recall"] for row in top]
    assert min(recall) > 0.6, recall
    assert min(score_ranking(row, flipped)["auroc"] for row in result.scores) > 0.9
