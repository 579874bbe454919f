"""`hardness export`: the verdicts of a tracked run as one row per sample, and the data without its flagged samples."""
