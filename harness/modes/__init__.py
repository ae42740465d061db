"""Case modes that take more than one LoadGen run: find-peak and MLPerf's compliance audits."""
