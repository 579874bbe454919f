"""hardness: find the hard samples (stragglers) in a dataset and measure how they distort test accuracy."""

__version__ = "0.1.0"
