"""Bit-accurate execution: integer accumulation (Numba), requantization, conv lowering, float and block-scaled
number formats (``cast``, ``block_quantize``), error metrics."""

from accelsim.numerics.api import NumericsStats, qconv2d, qlinear, qlinear_grouped, qmatmul_integer
from accelsim.numerics.formats import block_quantize, cast
from accelsim.numerics.metrics import error_metrics

__all__ = ["NumericsStats", "block_quantize", "cast", "error_metrics", "qconv2d", "qlinear", "qlinear_grouped",
           "qmatmul_integer"]
