"""How fast the data map opens at 70,000 points: all of MNIST (train and test) with planted verdicts and scores, drawn
by the page builder with its default thumbnail budget, then opened in headless Chromium (offline) a few times; the
time is from navigation until the map is drawn (WebGL), and the time one filter click takes to redraw.

    python -m benchmarks.datamap_load --data-root ../shared/data [--n 70000] [--repeats 3] [--out page.html]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.browser import CHROMIUM, time_until_ready


def build_mnist_page(data_root: str, n: int) -> str:
    """The page of n MNIST samples with planted verdicts (2% label errors, 1% outliers, 10% hard) and two scores."""
    from hardness.config import DataConfig
    from hardness.datasets.prepare import load_dataset
    from hardness.studies.datamap.page import render_page
    from hardness.studies.datamap.verdicts import build_review_table

    dataset = load_dataset(DataConfig(name="mnist", root=data_root, subset_size=n), 0)
    rng = np.random.default_rng(0)
    verdict = rng.choice(["label_error", "outlier", "hard", "easy"], size=n, p=[0.02, 0.01, 0.1, 0.87])
    labels = dataset.y.numpy()
    table = pd.DataFrame({"original_index": dataset.index.numpy(), "label": labels, "verdict": verdict,
                          "suggested_label": np.where(verdict == "label_error", (labels + 1) % 10, -1),
                          "cleanlab_score": rng.random(n), "cleanlab_agreement": rng.integers(0, 6, n) / 5,
                          "aum_score": rng.normal(size=n), "aum_agreement": rng.integers(0, 6, n) / 5})
    return render_page(build_review_table(table), dataset, title=f"MNIST {n}", subtitle="planted verdicts")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--n", type=int, default=70000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if CHROMIUM is None:
        raise SystemExit("needs a headless Chromium (chromium, chromium-browser or google-chrome)")
    page = build_mnist_page(args.data_root, args.n)
    with tempfile.TemporaryDirectory() as folder:
        path = args.out or Path(folder) / "datamap.html"
        path.write_text(page, encoding="utf-8")
        times = [time_until_ready(path.as_uri()) for _ in range(args.repeats)]
    result = {"points": args.n, "page_mb": round(len(page.encode()) / 1e6, 1), "load_ms": [t[0] for t in times],
              "filter_ms": [t[1] for t in times], "load_ms_median": statistics.median(t[0] for t in times),
              "filter_ms_median": statistics.median(t[1] for t in times)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
