"""Adapters that connect other training frameworks to hardness (each needs its framework's optional extra)."""
