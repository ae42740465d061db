"""Dataset readers and the MLPerf preprocessing pipelines.

Submodules are imported on demand (``from harness.benchmarks.resnet50 import imagenet``) so
that importing the package stays cheap and pulls in no image library.
"""
