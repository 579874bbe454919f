"""A finished diagnose run with hand-written verdicts, logged straight to a store: the data map, the review export and
relabel read it as they read `hardness diagnose`'s runs (schema.DIAGNOSIS), without running a diagnosis."""

import numpy as np

from hardness.config import Config, DataConfig, ImbalanceConfig, TrainConfig, dump_config
from hardness.tracking import schema
from hardness.tracking.tracker import Tracker


def log_diagnosis(tracking_uri, *, n=60, label_noise=0.0, epochs=500):
    """A diagnose run over the first `n` shuffled digits: every flipped sample (data.label_noise) and every tenth one
    a label error whose suggested label is the clean label (the flipped ones) or (label + 1) % 10, every seventh
    other one an outlier, the rest easy; `relabel --measure` trains 2 splits x 2 models per arm. Returns (run id, the
    diagnosis table)."""
    from hardness.datasets.prepare import load_dataset
    from hardness.studies.common.tables import build_sample_table

    config = Config(data=DataConfig(name="digits", subset_size=n, label_noise=label_noise), seeds=2,
                    train=TrainConfig(epochs=epochs), imbalance=ImbalanceConfig(hard_sets=2, inits=2))
    samples = build_sample_table(load_dataset(config.data, config.seed))
    rows = np.arange(n)
    flipped = (samples["label"] != samples["clean_label"]).to_numpy()
    error = flipped | (rows % 10 == 0)
    verdict = np.where(error, "label_error", np.where(rows % 7 == 0, "outlier", "easy"))
    suggested = np.where(flipped, samples["clean_label"], (samples["label"] + 1) % 10)
    diagnosis = samples.assign(
        verdict=verdict, suggested_label=np.where(error, suggested, -1),
        suggested_label_prob=np.where(error, 0.8, np.nan), estimated_precision=np.where(verdict == "easy", np.nan, 0.9),
        energy_score=rows / n, energy_agreement=(verdict != "easy").astype(float))
    tracker = Tracker(tracking_uri, "hardness")
    run_id = tracker.start_run("diagnose-digits", tags={schema.KIND: str(schema.Kind.DIAGNOSE)})
    tracker.log_text(run_id, dump_config(config), schema.CONFIG)
    tracker.log_table(run_id, samples, schema.SAMPLES)
    tracker.log_table(run_id, diagnosis, schema.DIAGNOSIS)
    tracker.end_run(run_id)
    return run_id, diagnosis
