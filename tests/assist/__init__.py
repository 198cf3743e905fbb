"""Assist by phone: test material."""
