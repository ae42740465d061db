"""Accuracy metrics computed as MLPerf's own accuracy scripts compute them."""
