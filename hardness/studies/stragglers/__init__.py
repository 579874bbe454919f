"""`hardness run`: stragglers of K seeds, radii curves and inversion epochs, tracked per seed."""
