"""`hardness report`: tracked runs to figures and tables (load, aggregate, figures, shell)."""
