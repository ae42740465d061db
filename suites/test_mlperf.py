"""Every MLPerf case of the registry's matrix, one LoadGen run each.

Select with the --mlperf-* options or markers, e.g.
``pytest suites -m "resnet50 and Offline"``. Ids:
``<model>-<backend>-<device>-<precision>-<scenario>-<mode>``.
"""


def test_mlperf(mlperf_case, mlperf_run):
    result = mlperf_run()
    assert result.passed, "\n".join(result.failures)
