"""The benchmark families, one folder each: registry entry, dataset format, task, scorer.

A family folder holds ``benchmark.toml`` (both accuracy variants, and the
names of its parts), the dataset format (reads the real layout, stages the
samples, returns ground truth), the task (what inputs and responses are),
the scorer (the official accuracy script's figures and line) and, where it
has one, the hook that fills in ``python -m harness accuracy``'s request.
Central code never names a family: the registry names the parts.
"""
