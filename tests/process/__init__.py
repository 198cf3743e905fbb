"""Tests against a real Home Assistant process (durability, reliability)."""
