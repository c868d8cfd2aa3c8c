"""Foundation: datasets (split once, fingerprinted) and the sources they load from."""
