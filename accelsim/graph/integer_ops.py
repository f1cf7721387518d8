"""ONNX's integer ops outside the Q/DQ patterns, executed under the contract: MatMulInteger (what ONNX Runtime's
dynamic quantization writes: DynamicQuantizeLinear -> MatMulInteger -> Mul by the scales) runs on the contract's
accumulator (:func:`accelsim.numerics.api.qmatmul_integer`: exact int32 on VNNI/AMX, x86 U8S8 pair saturation on
AVX2-only CPUs, wrap or saturation on narrow accumulators), not on the exact arithmetic of the float reference.

The node keeps its name and its int32 output; what its accumulator did is in its ``run`` (events, notes), as for
the integer layers (accelsim.graph.contract.LayerRun).
"""

from __future__ import annotations

import numpy as np

from accelsim.graph.contract import LayerRun
from accelsim.ops import run_node


class MatMulIntegerNode:
    """One MatMulInteger node under ``profile``. Batched A (..., M, K) against a 2-D B (K, N) with scalar A zero
    point (per-column B zero points allowed) takes the contract's kernel; any other form (a batched B, per-row A
    zero points) is computed exactly by the op's reference semantics, and the run's notes say so."""

    def __init__(self, node, profile, opset: int):
        self.node = node
        self.profile = profile
        self.opset = opset
        self.run = LayerRun()

    def _contract_form(self, a, b, za, zb) -> bool:
        return (b.ndim == 2 and a.ndim >= 2 and (za is None or np.size(za) == 1)
                and (zb is None or np.ndim(zb) <= 1) and a.dtype.itemsize == 1 and b.dtype.itemsize == 1)

    def __call__(self, env: dict) -> None:
        from accelsim.numerics.api import qmatmul_integer

        n = self.node
        vals = [env[i] if i else None for i in n.inputs] + [None, None]
        a, b, za, zb = (np.asarray(vals[0]), np.asarray(vals[1]), vals[2], vals[3])
        if not self._contract_form(a, b, za, zb):
            env[n.outputs[0]] = run_node(n, vals[:len(n.inputs)], self.opset)[0]
            note = f"{n.key}: MatMulInteger of shapes {list(a.shape)} x {list(b.shape)} computed exactly (not on the " \
                   f"contract's accumulator: only 2-D B and a scalar A zero point take it)"
            if note not in self.run.notes:
                self.run.notes.append(note)
            return
        acc, stats = qmatmul_integer(a.reshape(-1, a.shape[-1]), b, 0 if za is None else za, 0 if zb is None else zb,
                                     hw=self.profile)
        events = stats.events.by_channel_chunk
        self.run.events = events if self.run.events is None or self.run.events.shape != events.shape \
            else self.run.events + events
        self.run.overflow_events += stats.events.overflow_events
        self.run.saturation_events += stats.events.saturation_events
        # ONNX's output is int32: a 32-bit spill register's value as it is (wider contracts keep more bits)
        env[n.outputs[0]] = acc.reshape(*a.shape[:-1], b.shape[1]).astype(np.int32)
