"""What fixing labels buys on MNIST 20k with 10% injected label flips: the review loop of docs/how-to/review-loop.md run
end to end with the CLI, and test accuracy before the fix, after it, and with the fixed samples dropped instead.

The verdicts come from `hardness diagnose` (label errors and their suggested labels) or, with --source cleanlab, from
an identify run of cleanlab's label issues, relabelled with the argmax of an out-of-fold ensemble (same config).

    python -m benchmarks.review_loop --data-root ../shared/data --tracking-uri sqlite:////tmp/loop/mlflow.db
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

COMMON = ["--set", "data.label_noise=0.1", "--set", "seeds=3", "--set", "identifier.cleanlab_folds=3",
          "--set", "imbalance.hard_sets=3", "--set", "imbalance.inits=2"]


def hardness(*args: str) -> dict:
    """One hardness command with --json; its summary."""
    done = subprocess.run([sys.executable, "-m", "hardness", *args, "--json"], check=False, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"hardness {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def suggest_out_of_fold(run_id: str, tracking_uri: str) -> pd.DataFrame:
    """Corrections for an identify run's flagged samples (majority of seeds): the argmax of a cross-fitted ensemble's
    out-of-fold probabilities, where it differs from the label."""
    from hardness.engine.seeds import derive_model_seeds
    from hardness.identifiers.confident_learning import compute_out_of_fold
    from hardness.studies.datamap.verdicts import EASY, build_review_table
    from hardness.studies.export.run import load_run_data, open_run, read_verdicts
    from hardness.tracking import schema

    tracker, row = open_run(tracking_uri, run_id)
    config, _, dataset = load_run_data(tracker, run_id, row)
    review = build_review_table(read_verdicts(tracker, run_id, row, tracker.load_table(run_id, schema.SAMPLES)))
    probs, _ = compute_out_of_fold(dataset, config, derive_model_seeds(config.seed, config.seeds))
    argmax = pd.Series(probs.mean(0).argmax(1).numpy(), index=dataset.index.numpy())
    flagged = review[review["verdict"] != EASY]
    suggested = argmax.reindex(flagged["original_index"]).to_numpy()
    corrections = pd.DataFrame({"original_index": flagged["original_index"].to_numpy(), "corrected_label": suggested})
    return corrections[suggested != flagged["label"].to_numpy()]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--work", type=Path, default=Path("review-loop"))
    parser.add_argument("--source", choices=("diagnose", "cleanlab"), default="diagnose")
    parser.add_argument("--out", type=Path, default=Path("review-loop.json"))
    parser.add_argument("--config", default="configs/mnist-20k.yaml")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="More config overrides (a.b=c).")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    where = ["--data-root", args.data_root, "--tracking-uri", args.tracking_uri, *COMMON,
             *(word for extra in args.extra for word in ("--set", extra))]
    started = time.perf_counter()
    if args.source == "diagnose":
        found = hardness("diagnose", args.config, *where)
        run_id = found["run_id"]
        hardness("export", "--run-id", run_id, "--format", "review", "--verdict", "label_error",
                 "--out", str(args.work / "review.csv"), "--tracking-uri", args.tracking_uri)
        review = pd.read_csv(args.work / "review.csv")
        corrections = review.assign(corrected_label=review["suggested_label"])[["original_index", "corrected_label"]]
    else:
        found = hardness("identify", args.config, "--identifier", "cleanlab", *where, "--set", "threshold.method=own")
        run_id = found["parent_run_id"]
        corrections = suggest_out_of_fold(run_id, args.tracking_uri)
    identified = time.perf_counter() - started
    corrections.to_csv(args.work / "corrections.csv", index=False)
    fixed = hardness("relabel", "--run-id", run_id, "--corrections", str(args.work / "corrections.csv"),
                     "--out", str(args.work / "relabelled"), "--measure", "--tracking-uri", args.tracking_uri)
    samples = pd.read_csv(args.work / "review.csv") if args.source == "diagnose" else None
    from hardness.studies.export.run import open_run

    truth = open_run(args.tracking_uri, run_id)[0].load_table(run_id, "samples.csv").set_index("original_index")
    right = int((truth.loc[corrections["original_index"], "clean_label"].to_numpy()
                 == corrections["corrected_label"].to_numpy()).sum())
    flipped = int((truth["label"] != truth["clean_label"]).sum())
    result = {"source": args.source, "run_id": run_id, "relabel_run_id": fixed["run_id"], "flipped": flipped,
              "corrected": len(corrections), "corrected_right": right, "reference": fixed["reference"],
              "fix": fixed["fix"], "identify_s": identified, "total_s": time.perf_counter() - started,
              "reviewed": None if samples is None else len(samples)}
    args.out.write_text(json.dumps(result, indent=1))
    print(pd.DataFrame(fixed["fix"]).round(4).to_string())
    print({k: v for k, v in result.items() if k != "fix"})
    return result


if __name__ == "__main__":
    main()
