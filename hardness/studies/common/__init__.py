"""What the study shells share: the session (the one preamble), executors, checks, tables, scoring and metrics."""
