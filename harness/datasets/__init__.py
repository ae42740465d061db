"""What every dataset format shares: requests, ground truth hand-off, staging, tokenizers.

Each family's own format (its reader of the real on-disk layout and its
preprocessing) lives in its folder, harness/benchmarks/<family>/. Submodules
are imported on demand, so importing the package pulls in no image library.
"""
