"""Timing: roofline bound per layer (the SimPy pipeline model deepens it; same outputs)."""

from accelsim.timing.roofline import LayerTiming, layer_timing

__all__ = ["LayerTiming", "layer_timing"]
