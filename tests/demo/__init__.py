"""Tests of scripts/demo: the integration in a real Home Assistant process."""
