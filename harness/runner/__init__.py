"""Running one LoadGen case in its own process."""
from .launch import ChildRun, RunFailed, RunUnavailable, launch
from .spec import RunSpec

__all__ = ["ChildRun", "RunFailed", "RunSpec", "RunUnavailable", "launch"]
