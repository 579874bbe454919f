"""`hardness report`: tracked runs to figures and tables (load, aggregate, figures, writer; run is the shell)."""
