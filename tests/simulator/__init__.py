"""Tests of the 46elks simulator."""
