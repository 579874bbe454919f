"""`hardness identify`: one identifier over K seeds, thresholded into hard sets."""
