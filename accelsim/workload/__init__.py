"""Workloads: layer types, workload YAML loading and validation, data sources. (A workload of any kind —
YAML layers, an ONNX model, a real model — is loaded by :func:`accelsim.loading.load_workload`.)"""

from accelsim.workload.layers import Layer, LayerQuant, QuantIntent
from accelsim.workload.loader import list_workloads
from accelsim.workload.workload import DataSpec, TensorSpec, Workload

__all__ = ["DataSpec", "Layer", "LayerQuant", "QuantIntent", "TensorSpec", "Workload", "list_workloads"]
