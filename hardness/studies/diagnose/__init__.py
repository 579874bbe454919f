"""`hardness diagnose`: a verdict (label_error, outlier, hard, easy), a suggested label and a calibrated precision for
every sample, learned from copies of the data with known injections."""
