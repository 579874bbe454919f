"""`hardness relabel`: a reviewer's corrections applied to a new version of the data, and what training on it buys."""
