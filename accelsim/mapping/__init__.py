"""Mapping: how a layer's GEMM view lands on the MAC array and moves through the memory hierarchy."""

from accelsim.mapping.gemm import GemmView, gemm_view
from accelsim.mapping.mapper import LevelTraffic, Mapping, Tiling, array_compute_cycles, map_layer

__all__ = ["GemmView", "LevelTraffic", "Mapping", "Tiling", "array_compute_cycles", "gemm_view", "map_layer"]
