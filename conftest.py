"""Root conftest. The MLPerf plugin itself (harness.pytest_plugin.plugin) is installed as a
pytest11 entry point named "mlperf" by `make venv`; the suite's own tests use pytester."""
pytest_plugins = ["pytester"]
