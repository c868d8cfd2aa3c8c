"""Mechanism: the study ledger (an Optuna study for every strategy) and its storage."""
