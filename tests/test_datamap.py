"""The data map: verdicts, axes, thumbnails and payload against planted answers; the page logged by identify runs and
by `hardness datamap` (a diagnose run's verdicts from a hand-written diagnosis.csv); the page in headless Chromium."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from benchmarks.browser import CHROMIUM, dump_dom
from hardness.cli import app
from hardness.studies.datamap.page import build_axes, build_page, build_payload, compute_jitter, default_axes
from hardness.studies.datamap.thumbnails import pack_thumbnails, summarise_features, to_pixels
from hardness.studies.datamap.verdicts import build_review_table, order_hardest, pick_gallery
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker
from tests.planted_runs import log_diagnosis

runner = CliRunner()
EXPORTED = pd.DataFrame({"original_index": [5, 6, 7, 8], "label": [0, 1, 1, 0],
                         "energy_score": [0.1, 2.0, 1.0, 3.0], "energy_agreement": [0.0, 0.5, 0.25, 1.0],
                         "stragglers_agreement": [0.0, 0.75, 0.0, 0.25]})


def test_runs_without_a_diagnosis_get_hard_or_easy_by_majority():
    review = build_review_table(EXPORTED)
    assert review["verdict"].tolist() == ["easy", "hard", "easy", "hard"]
    assert review["suggested_label"].tolist() == [-1] * 4
    assert review["straggler"].tolist() == [False, True, False, False]
    assert order_hardest(review).tolist() == [3, 1, 2, 0]  # hard first (agreement 1 > 0.75), then easy by agreement
    assert pick_gallery(review, 1) == {"hard": [3]}


def test_a_diagnosis_keeps_its_verdicts_and_ranks_by_precision():
    diagnosis = EXPORTED.assign(verdict=["label_error", "hard", "label_error", "easy"], suggested_label=[1, -1, 0, -1],
                                estimated_precision=[0.6, 0.8, 0.9, np.nan])
    review = build_review_table(diagnosis)
    assert review["verdict"].tolist() == diagnosis["verdict"].tolist()
    assert order_hardest(review).tolist() == [2, 0, 1, 3]
    assert pick_gallery(review, 5) == {"label_error": [2, 0], "hard": [1]}


def test_axes_prefer_the_data_maps_then_two_scores_then_score_against_agreement():
    maps = EXPORTED.assign(datamaps_score=[-0.9, -0.2, -0.5, -0.1], datamaps_variability_score=[0.1, 0.3, 0.2, 0.4])
    axes = build_axes(maps)
    assert default_axes(axes) == ("variability", "confidence")
    assert axes["confidence"].tolist() == [0.9, 0.2, 0.5, 0.1]
    assert default_axes(build_axes(EXPORTED.assign(loss_score=0.0))) == ("energy_score", "loss_score")
    assert default_axes(build_axes(EXPORTED)) == ("energy_score", "energy_agreement")
    assert default_axes(build_axes(EXPORTED[["original_index", "label", "stragglers_agreement"]])) == (
        "stragglers_agreement", "label")
    assert compute_jitter(np.array([0.0, 0.25, 0.5, 1.0])) == pytest.approx(0.15)
    assert compute_jitter(np.linspace(0, 1, 100)) == 0.0


def test_payload_codes_verdicts_and_refuses_unknown_axes():
    payload = build_payload(build_review_table(EXPORTED), ("ant", "bee"))
    assert payload["verdicts"] == ["hard", "easy"] and payload["verdict"] == [1, 0, 1, 0]
    assert payload["axes"] == {"x": "energy_score", "y": "energy_agreement"}
    assert payload["columns"]["energy_score"] == [0.1, 2.0, 1.0, 3.0]
    with pytest.raises(ValueError, match="not one of this run's columns"):
        build_payload(build_review_table(EXPORTED), ("ant", "bee"), x="loss_score")


def test_thumbnails_follow_the_order_within_the_budget():
    x = torch.zeros(3, 4)
    x[1] = 1.0  # the brightest sample: all 255
    shape, pixels, slots = pack_thumbnails(x, (1, 2, 2), np.array([1, 2, 0]), budget_bytes=8)
    assert shape == (1, 2, 2) and slots.tolist() == [-1, 0, 1]
    assert list(pixels) == [255] * 4 + [0] * 4
    assert to_pixels(torch.zeros(1, 64 * 64), (1, 64, 64)).shape == (1, 1, 32, 32)


def test_feature_summary_names_the_most_unusual_features():
    x = torch.tensor([[0.1, -3.0, 1.0], [2.0, 0.0, 0.5]])
    assert summarise_features(x, ("a", "b", "c"), top=2) == ["b -3.0σ, c +1.0σ", "a +2.0σ, c +0.5σ"]


def test_the_page_is_self_contained():
    page = build_page(build_payload(build_review_table(EXPORTED), ("ant", "bee")), title="t</title>", subtitle="s")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"?https?:", page)
    assert "t&lt;/title&gt;" in page and 'data-samples="4"' in page
    embedded = page.split('id="hardness-data">')[1].split("</script>")[0]
    assert json.loads(embedded)["index"] == [5, 6, 7, 8]


def _invoke(*args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _artifact(tracker, run_id, name=schema.DATAMAP):
    return tracker.load_text(run_id, name)


def test_identify_logs_its_data_map_and_datamap_draws_it_again(tracking_uri, tmp_path):
    summary = _invoke("identify", "--identifier", "confidence", "--dataset", "digits", "--subset-size", "200",
                      "--seeds", "2", "--epochs", "10", "--set", "threshold.method=quantile", "--set", "inversion.warmup=2",
                      "--threads", "1",
                      "--tracking-uri", tracking_uri)
    tracker = Tracker(tracking_uri, "hardness")
    page = _artifact(tracker, summary["parent_run_id"])
    assert 'data-samples="200"' in page and '"thumbs":{"shape":[1,8,8]' in page
    again = _invoke("datamap", "--run-id", summary["parent_run_id"], "--color", "class", "--out",
                    str(tmp_path / "map.html"), "--tracking-uri", tracking_uri)
    assert again["n_samples"] == 200 and '"color":"class"' in (tmp_path / "map.html").read_text()
    refused = runner.invoke(app, ["datamap", "--run-id", summary["parent_run_id"], "--x", "loss_score",
                                  "--tracking-uri", tracking_uri])
    assert refused.exit_code == 2 and "confidence_score" in refused.output


def test_runs_log_no_page_when_asked_not_to(tracking_uri):
    summary = _invoke("identify", "--identifier", "energy", "--dataset", "digits", "--subset-size", "100", "--seeds",
                      "1", "--epochs", "10", "--set", "threshold.method=quantile", "--set", "inversion.warmup=1",
                      "--set", "tracking.datamap=false", "--tracking-uri", tracking_uri)
    artifacts = Tracker(tracking_uri, "hardness").client.list_artifacts(summary["parent_run_id"])
    assert schema.SAMPLES in [a.path for a in artifacts] and schema.DATAMAP not in [a.path for a in artifacts]


def test_a_diagnose_runs_verdicts_and_suggestions_reach_the_page(tracking_uri, tmp_path):
    run_id, diagnosis = log_diagnosis(tracking_uri)
    _invoke("datamap", "--run-id", run_id, "--out", str(tmp_path / "map.html"), "--tracking-uri", tracking_uri)
    page = (tmp_path / "map.html").read_text()
    payload = json.loads(page.split('id="hardness-data">')[1].split("</script>")[0])
    assert payload["verdicts"] == ["label_error", "outlier", "easy"]
    assert payload["suggested"] == diagnosis["suggested_label"].tolist()
    assert len(payload["gallery"]["label_error"]) == 6 and len(payload["gallery"]["outlier"]) == 8


def _counts(dom):
    shown = int(re.search(r'id="count">(\d+)<', dom).group(1))
    drawn = int(re.search(r'data-drawn="(\d+)"', dom).group(1))
    return shown, drawn


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (chromium, chromium-browser or google-chrome)")
def test_the_page_draws_every_sample_offline_and_filters_in_chromium(tracking_uri, tmp_path):
    run_id, diagnosis = log_diagnosis(tracking_uri)
    _invoke("datamap", "--run-id", run_id, "--out", str(tmp_path / "map.html"), "--tracking-uri", tracking_uri)
    url = (tmp_path / "map.html").as_uri()
    dom = dump_dom(url)
    assert 'data-ready="true"' in dom and _counts(dom) == (60, 60)
    assert _counts(dump_dom(f"{url}#verdict=label_error")) == (6, 6)
    in_class = int((diagnosis["label"] == 3).sum())
    assert _counts(dump_dom(f"{url}#class=3&color=class")) == (in_class, in_class)
    assert "sample" in dom and dom.count('class="tile"') == 14
