"""Model files: where they live, whether they may be loaded, what they are, and merging them."""
