"""Layer-wise adaptive compression (the paper's LAQ and LAP) and its baselines."""
