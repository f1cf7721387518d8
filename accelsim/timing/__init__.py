"""Timing: mapping onto the array, a SimPy tile pipeline per layer, roofline bounds."""

from accelsim.timing.model import LayerTiming, layer_timing
from accelsim.timing.pipeline import PipelineResult, simulate_layer

__all__ = ["LayerTiming", "PipelineResult", "layer_timing", "simulate_layer"]
