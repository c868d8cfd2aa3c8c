"""Mechanism: everything hpo writes to and reads from MLflow (the only mlflow importer)."""
