"""`hardness runs`: the runs of an experiment, their status and age, and the stale ones (pure table in status.py)."""
