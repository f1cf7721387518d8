"""Runtime profiles: the software stack (kernel efficiency, launch and host time, attention, all-reduce, scheduler)
as its own contract beside the hardware's (hw_profiles/runtimes/, docs/runtimes.md)."""

from accelsim.runtime.loader import default_runtime_name, list_runtimes, load_runtime, load_runtime_file
from accelsim.runtime.profile import IDEAL, AllReduceSpec, RuntimeProfile, SchedulerSpec

__all__ = ["IDEAL", "AllReduceSpec", "RuntimeProfile", "SchedulerSpec", "default_runtime_name", "list_runtimes",
           "load_runtime", "load_runtime_file"]
