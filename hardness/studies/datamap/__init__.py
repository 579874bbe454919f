"""`hardness datamap`: a run's samples as one interactive, self-contained HTML page (the data map), logged with the run."""
