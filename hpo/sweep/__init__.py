"""Orchestration: the ask -> train -> tell loop, its process pool and listeners."""
