"""hpo: hyperparameter-optimisation experiments for Keras, tracked in MLflow."""

__version__ = "0.1.0"
