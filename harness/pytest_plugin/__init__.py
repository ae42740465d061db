"""The pytest side of the harness, installed as the pytest11 entry point "mlperf" (plugin.py)."""
