"""Studies: one folder per command, each a pure part (computation) and a shell `run.py` (data, tracking)."""
