"""Running one LoadGen case in its own process."""
from .launch import ChildRun, RunFailed, launch
from .spec import RunSpec

__all__ = ["ChildRun", "RunFailed", "RunSpec", "launch"]
