"""Assist by phone through a real Home Assistant."""
