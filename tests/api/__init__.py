"""Tests of the 46elks API client without Home Assistant."""
