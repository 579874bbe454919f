"""`hardness detect`: hardness injected into known samples, and how well each identifier finds it.

images.py and inject.py (pure) make the injected datasets, reference.py trains the ensemble whose confusions steer
adjacent flips, scoring.py (pure) measures detection, evaluate.py identifies and scores one injected dataset, run.py
is the tracked, resumable shell.
"""
