"""Reconciliation: compute desired sessions, plan the difference with what runs, execute it."""
