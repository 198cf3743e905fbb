"""Recorded test speech (see generate.py)."""
