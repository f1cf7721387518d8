"""Hardware contracts: profile dataclasses, YAML loading and validation, built-in lookup."""

from accelsim.hardware.loader import list_profiles, load_profile, load_profile_file
from accelsim.hardware.profile import AccumulatorSpec, ArraySpec, EnergySpec, HardwareProfile, MemoryLevel, RequantSpec

__all__ = ["AccumulatorSpec", "ArraySpec", "EnergySpec", "HardwareProfile", "MemoryLevel", "RequantSpec",
           "list_profiles", "load_profile", "load_profile_file"]
