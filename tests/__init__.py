"""Tests for the 46elks integration and its simulator."""
