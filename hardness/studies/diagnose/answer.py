"""What `hardness.diagnose` gives back: the diagnosis table in the caller's order, with the calibration beside it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hardness.datasets.memory import InMemory
from hardness.studies.diagnose.diagnosis import Diagnosis
from hardness.tracking.schema import VERDICTS


@dataclass(frozen=True)
class DiagnoseResult:
    """`table`: one row per sample in the caller's order (the columns of schema.DIAGNOSIS, preceded by `id` when ids
    were given; a sample data.subset_size left out has a NaN verdict); `calibration`: each verdict's threshold,
    precision and recall with 95% bootstrap intervals; `confusion`: injected truth against verdicts on the
    calibration copies; `timings`: seconds per part."""

    table: pd.DataFrame
    calibration: pd.DataFrame
    confusion: pd.DataFrame
    timings: dict[str, float]
    run_id: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        """How many samples got each verdict."""
        return {verdict: int((self.table["verdict"] == verdict).sum()) for verdict in VERDICTS}

    def to_pandas(self) -> pd.DataFrame:
        """The table."""
        return self.table


def build_diagnose_result(diagnosis: Diagnosis, memory: InMemory, run_id: str | None = None) -> DiagnoseResult:
    """The diagnosis in the caller's order: the prepared rows go back to their positions (original_index)."""
    n = memory.raw.n_samples
    table = diagnosis.table.set_index("original_index").reindex(np.arange(n)).rename_axis("original_index")
    table = table.reset_index()
    if memory.ids is not None:
        table.insert(0, "id", memory.ids)
    return DiagnoseResult(table, diagnosis.calibration, diagnosis.confusion, diagnosis.timings, run_id)
