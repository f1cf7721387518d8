"""The GEMM view of a MAC layer: C (M x N) = A (M x K) @ B (K x N), repeated ``batch`` times.

conv2d is an implicit GEMM (im2col dimensions, nothing materialized): M = images x output pixels,
K = input channels per group x kernel height x kernel width, N = output channels per group, batch =
groups (each group has its own weights). Attention matmuls: batch = heads, and B is an activation
(the K or V cache), not a weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.workload.layers import Layer


@dataclass(frozen=True)
class GemmView:
    """Dimensions of one layer's GEMM(s) and which operand is a stored weight."""

    batch: int
    m: int
    k: int
    n: int
    b_is_weight: bool
    a_source_elements: int | None = None  # conv: the input tensor (im2col duplicates are made on chip)

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.k * self.n

    @property
    def a_elements(self) -> int:
        """Elements of A as the array consumes it (im2col rows for conv)."""
        return self.batch * self.m * self.k

    @property
    def a_stored_elements(self) -> int:
        """Elements of A as stored in memory."""
        return self.a_source_elements if self.a_source_elements is not None else self.a_elements

    @property
    def b_elements(self) -> int:
        return self.batch * self.k * self.n

    @property
    def c_elements(self) -> int:
        return self.batch * self.m * self.n


def gemm_view(layer: Layer) -> GemmView:
    """The GEMM view of a linear, matmul or conv2d layer (ValueError for other ops)."""
    if layer.op == "linear":
        k, n = layer.weight_shape
        return GemmView(1, math.prod(layer.in_shapes[0][:-1]), k, n, True)
    if layer.op == "conv2d":
        n_img, c, _, _ = layer.in_shapes[0]
        _, o, ho, wo = layer.out_shape
        k = (c // layer.groups) * layer.kernel[0] * layer.kernel[1]
        return GemmView(layer.groups, n_img * ho * wo, k, o // layer.groups, True,
                        a_source_elements=math.prod(layer.in_shapes[0]))
    if layer.op == "matmul":
        a, b = layer.matmul_operand_shapes
        return GemmView(math.prod(a[:-2]), a[-2], a[-1], b[-1], False)
    raise ValueError(f"layer '{layer.name}': op '{layer.op}' has no GEMM view")
