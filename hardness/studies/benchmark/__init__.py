"""`hardness benchmark`: identifiers compared through the imbalance grid (pure tables in compare.py)."""
