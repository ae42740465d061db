"""The pytest plugin: options, collection, activation, provisioning, cases and reports.

Installed with the project as the pytest11 entry point "mlperf"; elsewhere
load it with ``-p harness.pytest_plugin.plugin``. It acts only in a session
that collects an MLPerf case (activation.py).
"""
pytest_plugins = [
    "harness.pytest_plugin.options",
    "harness.pytest_plugin.collection",
    "harness.pytest_plugin.sharding",
    "harness.pytest_plugin.provision",
    "harness.pytest_plugin.cases",
    "harness.pytest_plugin.reporting",
    "harness.pytest_plugin.interrupts",
    "harness.pytest_plugin.activation",
]
