"""DLRM v2 click-through-rate prediction on multi-hot Criteo (MLPerf "dlrm-v2-99" and "dlrm-v2-99.9")."""
