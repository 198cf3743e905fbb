"""Load tests: many concurrent calls through Home Assistant and the simulator."""
