"""Tests hpo ships for code written on top of it, as Optuna ships `optuna.testing`.

`hpo.testing.strategy_contract` holds the contract every search strategy passes; subclass it
to hold your own strategy to the same rules. This package sits above the CLI: hpo itself never
imports it, and it needs pytest (a dev dependency).
"""
