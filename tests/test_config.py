"""Config: defaults, YAML files with `extends`, `--set` overrides, and clear errors for bad input."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from hardness.config import Config, dump_config, load_config, parse_override
from hardness.errors import HardnessError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def test_defaults_are_the_reference_code_preset():
    config = load_config()
    assert (config.model.activation, config.train.optimizer, config.train.lr) == ("tanh", "sgd", 0.1)
    assert config.train.batch_size is None and config.train.epochs == 500
    assert (config.inversion.warmup, config.inversion.check_every) == (20, 5)


def test_extends_merges_and_overrides_win(tmp_path):
    (tmp_path / "base.yaml").write_text("seeds: 7\ntrain:\n  lr: 0.5\n  epochs: 30\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ntrain:\n  epochs: 40\n")
    config = load_config(tmp_path / "child.yaml", ["train.lr=0.25", "data.subset_size=100"])
    assert config.seeds == 7 and config.train.epochs == 40 and config.train.lr == 0.25
    assert config.data.subset_size == 100


def test_shipped_configs_load():
    paths = sorted(CONFIGS.rglob("*.yaml"))
    assert len(paths) >= 11
    for path in paths:
        load_config(path)
    assert load_config(CONFIGS / "mnist-20k.yaml").data.subset_size == 20000
    assert load_config(CONFIGS / "mnist-radii.yaml").seeds == 100


def test_parse_override_types():
    assert parse_override("train.batch_size=null") == {"train": {"batch_size": None}}
    assert parse_override("seeds=3") == {"seeds": 3}
    assert parse_override("data.name=mnist") == {"data": {"name": "mnist"}}


@pytest.mark.parametrize("override, fragment", [
    ("train.lrr=0.1", "train.lrr"),
    ("data.name=imagenet", "data.name"),
    ("data.label_noise=1.5", "data.label_noise"),
    ("model.latent_layer=5", "latent_layer"),
    ("seeds", "key=value"),
])
def test_bad_values_raise_one_clear_error(override, fragment):
    with pytest.raises(HardnessError, match=fragment.replace(".", r"\.")):
        load_config(None, [override])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(HardnessError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("- a list\n")
    with pytest.raises(HardnessError, match="mapping"):
        load_config(tmp_path / "bad.yaml")


def test_config_is_frozen_and_round_trips_through_yaml(tmp_path):
    config = load_config(None, ["seeds=3"])
    with pytest.raises(ValidationError, match="frozen"):
        config.seeds = 4
    (tmp_path / "dumped.yaml").write_text(dump_config(config))
    assert load_config(tmp_path / "dumped.yaml") == config
    assert config.flat()["train.lr"] == 0.1 and isinstance(Config(), Config)
