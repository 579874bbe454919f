"""`hardness imbalance`: the in-class imbalance grid (pure grid in grid.py, tracked shell in run.py)."""
