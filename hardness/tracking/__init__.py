"""Tracking in MLflow: the only code that talks to it (tracker.py writes, reader.py reads), the run schema both
share, and the child writer, payloads, stores and heartbeat behind them."""
