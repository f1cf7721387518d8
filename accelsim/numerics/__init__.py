"""Bit-accurate integer execution: accumulation (Numba), requantization, conv lowering, error metrics."""

from accelsim.numerics.api import NumericsStats, qconv2d, qlinear, qlinear_grouped, qmatmul_integer
from accelsim.numerics.metrics import error_metrics

__all__ = ["NumericsStats", "error_metrics", "qconv2d", "qlinear", "qlinear_grouped", "qmatmul_integer"]
