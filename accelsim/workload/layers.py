"""Layer types of a workload, with their resolved shapes.

Shapes are plain tuples; a layer's ``inputs`` name tensors (workload inputs or earlier layers'
outputs). MAC counts and operand sizes are properties so they are never stored twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Granularity = Literal["per_tensor", "per_channel", "per_group"]
Calibration = Literal["minmax", "percentile", "mse", "entropy"]

#: ops that run as integer layers on the MAC array
MAC_OPS = ("linear", "conv2d", "matmul")
#: integer ops without MACs: add (requantized); relu, maxpool and flatten act on the codes (exact, same params)
INT_ELEMENTWISE_OPS = ("add", "relu", "maxpool", "flatten")
#: float glue between integer layers (dequantize, compute in float, quantize): stated in results
FLOAT_OPS = ("softmax", "gelu", "silu", "mul", "layernorm", "rmsnorm", "avgpool", "global_avgpool")
#: ops over spatial windows of an NCHW tensor
POOL_OPS = ("maxpool", "avgpool", "global_avgpool")


@dataclass(frozen=True)
class QuantIntent:
    """What the workload asks for one operand class (weights or activations)."""

    bits: int = 8
    symmetric: bool = True
    granularity: Granularity = "per_tensor"
    group_size: int | None = None
    calibration: Calibration = "minmax"
    percentile: float = 99.99
    narrow_range: bool = False  # signed codes without the most negative one (-127..127 for int8)
    format: str | None = None   # a float or block format (accelsim.operands.FORMATS) instead of integers
    scaling: str = "per_tensor"  # a format's scale: calibrated per tensor, or "dynamic" (from each tensor as it runs)


@dataclass(frozen=True)
class LayerQuant:
    weights: QuantIntent
    activations: QuantIntent


@dataclass(frozen=True)
class Layer:
    """One layer. ``in_shapes`` are the shapes of the tensors named by ``inputs``.

    Attributes by op:
      linear:  attrs = (('bias', bool), ('activation', str)); weight (K, N)
      conv2d:  attrs include kernel, stride, padding (top, left, bottom, right), dilation, groups
      matmul:  attrs = transpose_b, heads, merge_heads (both operands are activations)
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    in_shapes: tuple[tuple[int, ...], ...]
    out_shape: tuple[int, ...]
    quant: LayerQuant
    bias: bool = False
    activation: str = "none"
    # conv2d, maxpool, avgpool
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    # matmul
    transpose_b: bool = False
    heads: int = 1
    merge_heads: bool = False
    # softmax
    scale: float = 1.0
    # vector operations counted by the op registry (accelsim.ops) for an imported op; 0: counted by ``op``
    work: int = 0

    @property
    def is_mac(self) -> bool:
        return self.op in MAC_OPS

    @property
    def is_float(self) -> bool:
        return self.op in FLOAT_OPS

    @property
    def weight_shape(self) -> tuple[int, ...] | None:
        """Weight tensor shape: linear (K, N); conv2d OIHW; None for ops without weights."""
        if self.op == "linear":
            return (self.in_shapes[0][-1], self.out_shape[-1])
        if self.op == "conv2d":
            c = self.in_shapes[0][1]
            return (self.out_shape[1], c // self.groups, *self.kernel)
        return None

    @property
    def gemm(self) -> tuple[int, int, int, int]:
        """Implicit-GEMM view (batch, M, K, N) of a MAC layer; conv2d per group (batch = N x groups)."""
        if self.op == "linear":
            k, n = self.weight_shape
            m = math.prod(self.in_shapes[0][:-1])
            return 1, m, k, n
        if self.op == "conv2d":
            n_img, c, _, _ = self.in_shapes[0]
            _, o, ho, wo = self.out_shape
            k = (c // self.groups) * self.kernel[0] * self.kernel[1]
            return n_img * self.groups, ho * wo, k, o // self.groups
        if self.op == "matmul":
            a, b = self.matmul_operand_shapes
            batch = math.prod(a[:-2])
            return batch, a[-2], a[-1], b[-1]
        return 1, 0, 0, 0

    @property
    def matmul_operand_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(a, b) of a matmul after head splitting and transposition: a (..., M, K), b (..., K, N)."""
        a, b = self.in_shapes
        if self.heads > 1:
            if len(a) == 2:
                a = (self.heads, a[0], a[1] // self.heads)
            if len(b) == 2:
                b = (self.heads, b[0], b[1] // self.heads)
        if self.transpose_b:
            b = (*b[:-2], b[-1], b[-2])
        return a, b

    @property
    def macs(self) -> int:
        if not self.is_mac:
            return 0
        batch, m, k, n = self.gemm
        return batch * m * k * n

    @property
    def weight_elements(self) -> int:
        shape = self.weight_shape
        return math.prod(shape) if shape else 0

    @property
    def out_elements(self) -> int:
        return math.prod(self.out_shape)

    @property
    def vector_ops(self) -> int:
        """Element operations of a non-MAC layer on the vector unit: one per output, one per window cell for
        pooling (a compare or an add), none for flatten (a view: no data moves)."""
        if self.work:
            return self.work
        if self.op == "flatten":
            return 0
        if self.op in ("maxpool", "avgpool"):
            return self.out_elements * self.kernel[0] * self.kernel[1]
        if self.op == "global_avgpool":
            return self.in_elements
        return self.out_elements

    @property
    def in_elements(self) -> int:
        return sum(math.prod(s) for s in self.in_shapes)


def conv_out_size(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int) -> int:
    """Output length of one spatial dimension (ONNX Conv semantics)."""
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1
