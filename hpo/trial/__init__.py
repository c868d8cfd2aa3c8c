"""Mechanism: one trial in a training process: build, fit, evaluate, prune."""
