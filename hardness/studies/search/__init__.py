"""`hardness search`: Optuna over thresholds or the inversion rule (pure objective, study plumbing, shell)."""
