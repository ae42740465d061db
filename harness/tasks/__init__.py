"""What every task shares: the kinds a task declares, its model contract, text generation.

A family's own task lives in its folder (harness/benchmarks/<family>/task.py)
and its registry entry names it; text generation is shared by the LLM families.
"""
