"""Workloads: layer types, workload YAML loading and validation, data sources."""

from accelsim.workload.layers import Layer, LayerQuant, QuantIntent
from accelsim.workload.loader import list_workloads, load_workload
from accelsim.workload.workload import DataSpec, TensorSpec, Workload

__all__ = ["DataSpec", "Layer", "LayerQuant", "QuantIntent", "TensorSpec", "Workload", "list_workloads",
           "load_workload"]
