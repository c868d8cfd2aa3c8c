"""Foundation: datasets, split once and fingerprinted."""
