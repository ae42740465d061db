"""Root conftest: loads the MLPerf pytest plugin for suites/ and tests/."""
pytest_plugins = ["fixtures.plugin", "pytester"]
