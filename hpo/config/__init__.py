"""Foundation: the experiment file, the search space and the one definition of "better"."""
