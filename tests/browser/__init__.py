"""Browser tests: a real Home Assistant frontend in Chromium."""
