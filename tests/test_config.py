"""Config: defaults, YAML files with `extends`, `--set` overrides, and clear errors for bad input."""

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hardness.catalogue import IDENTIFIERS
from hardness.config import Config, build_config, dump_config, flatten, load_config, parse_override, read_config_file
from hardness.errors import HardnessError, UserError

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
    ("identifier.name=vibes", "unknown identifier 'vibes'; choose from: aum, cleanlab, confidence"),
    ("benchmark.identifiers=[]", "benchmark.identifiers: name at least one identifier"),
    ("inversion.warmup=498", "inversion.warmup + inversion.check_every = 503, after train.epochs 500"),
    ("train.lr=[0.1", "--set train.lr:1:5 is not valid YAML"),
    ("seed=2001-13-45", "--set seed is not valid YAML"),
])
def test_bad_values_raise_one_clear_error(override, fragment):
    with pytest.raises(HardnessError, match=re.escape(fragment)):
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


def test_unreadable_and_binary_files_are_user_errors(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(b"seeds: \xff\xfe\n")
    with pytest.raises(UserError, match="cannot read config file .*binary.yaml: not UTF-8 text"):
        load_config(tmp_path / "binary.yaml")


def test_logged_forms_mask_url_secrets():
    config = load_config(None, ["tracking.uri=http://me:hunter22@host:5000",
                                "search.storage=postgresql://u:hunter22@db/optuna"])
    assert config.tracking.uri == "http://me:hunter22@host:5000"  # the real value stays usable
    assert config.flat()["tracking.uri"] == "http://me:***@host:5000"
    assert config.flat()["search.storage"] == "postgresql://u:***@db/optuna"
    assert "hunter22" not in dump_config(config)


def test_catalogue_names_every_registered_identifier():
    from hardness.identifiers import REGISTRY

    assert IDENTIFIERS == tuple(sorted(REGISTRY))


# --- property: the loader either loads or raises one UserError line, whatever it is fed ---------------------------

FIELDS = sorted(flatten(Config().model_dump())) + ["extends", "data", "train", "nosuch", "train.nosuch", ""]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=8)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=15))


def _loads_or_refuses(load) -> None:
    try:
        assert isinstance(load(), Config)
    except UserError as error:
        assert "\n" not in str(error) and str(error)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(keys, st.one_of(st.text(max_size=20), values.map(yaml.safe_dump))), max_size=4))
def test_random_set_overrides_load_or_raise_one_user_error(assignments):
    overrides = [f"{key}={raw}" for key, raw in assignments]
    _loads_or_refuses(lambda: build_config({}, overrides))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(st.text(max_size=80),
                          st.dictionaries(keys, values, max_size=5).map(lambda tree: yaml.safe_dump(tree)),
                          st.dictionaries(st.sampled_from(FIELDS), values, max_size=5).map(yaml.safe_dump)))
def test_random_yaml_documents_load_or_raise_one_user_error(tmp_path, document):
    path = tmp_path / "random.yaml"
    path.write_text(document, encoding="utf-8")
    _loads_or_refuses(lambda: build_config(read_config_file(path)))


def test_a_caller_that_will_not_invert_may_skip_the_rules_timing():
    from hardness.config import INVERSION_UNUSED, build_config

    with pytest.raises(UserError, match="no inversion check can happen"):
        build_config({"train": {"epochs": 10}})
    assert build_config({"train": {"epochs": 10}}, context={INVERSION_UNUSED: True}).train.epochs == 10
