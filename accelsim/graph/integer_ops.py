"""ONNX's integer ops outside the Q/DQ patterns, executed under the contract: MatMulInteger (what ONNX Runtime's
dynamic quantization writes: DynamicQuantizeLinear -> MatMulInteger -> Mul by the scales) and ConvInteger (its
im2col GEMM, as MLAS computes it: patches of the codes with the zero point as padding, K ordered (kh, kw, c)) run
on the contract's accumulator (:func:`accelsim.numerics.api.qmatmul_integer`: exact int32 on VNNI/AMX, x86 U8S8
pair saturation on AVX2-only CPUs, wrap or saturation on narrow accumulators), not on the exact arithmetic of the
float reference.

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

    def _record(self, stats) -> None:
        """The call's accumulator events (counts; per channel and K-chunk where the shapes agree)."""
        events = stats.events.by_channel_chunk
        same = self.run.events is not None and self.run.events.shape == events.shape
        self.run.events = self.run.events + events if same else events
        self.run.overflow_events += stats.events.overflow_events
        self.run.saturation_events += stats.events.saturation_events

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
        self._record(stats)
        # ONNX's output is int32: a 32-bit spill register's value as it is (wider contracts keep more bits)
        env[n.outputs[0]] = acc.reshape(*a.shape[:-1], b.shape[1]).astype(np.int32)


class ConvIntegerNode(MatMulIntegerNode):
    """One 2-D ConvInteger node under ``profile``: per image and group, the im2col patches of the codes (padded with
    the zero point, so padding contributes nothing) times the weight as (kh x kw x C/g, O/g), on the contract's
    accumulator — without x86's byte-pair saturation: ONNX Runtime's ConvInteger on an AVX2-only CPU is exact where
    its MatMulInteger saturates (measured under qemu's Haswell model with ONNX Runtime 1.32: uint8 x int8 weights,
    0 of 2,816 elements differ from exact int32 sums, 532 from the pair-saturating model). A per-channel weight
    zero point, a 1-D or 3-D conv, or auto_pad runs exactly instead (notes say so)."""

    def __init__(self, node, profile, opset: int):
        import dataclasses

        super().__init__(node, dataclasses.replace(
            profile, accumulator=dataclasses.replace(profile.accumulator, byte_pairs="exact")), opset)

    def __call__(self, env: dict) -> None:
        from accelsim.numerics.api import conv_patches, qmatmul_integer

        n = self.node
        vals = [env[i] if i else None for i in n.inputs] + [None, None]
        x, w, zx, zw = np.asarray(vals[0]), np.asarray(vals[1]), vals[2], vals[3]
        a = dict(n.attrs)
        auto = a.get("auto_pad", "NOTSET")
        if (x.ndim != 4 or (zw is not None and np.size(zw) > 1) or (zx is not None and np.size(zx) > 1)
                or (auto.decode() if isinstance(auto, bytes) else auto) not in ("NOTSET", "")):
            env[n.outputs[0]] = run_node(n, vals[:len(n.inputs)], self.opset)[0]
            note = f"{n.key}: this ConvInteger form computed exactly (not on the contract's accumulator)"
            if note not in self.run.notes:
                self.run.notes.append(note)
            return
        zx = 0 if zx is None else int(np.asarray(zx).reshape(-1)[0])
        zw = 0 if zw is None else int(np.asarray(zw).reshape(-1)[0])
        group = int(a.get("group", 1))
        o, cg, kh, kw = w.shape
        strides, dilations = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
        top, left, bottom, right = tuple(a.get("pads", (0, 0, 0, 0)))
        padded = np.full((*x.shape[:2], x.shape[2] + top + bottom, x.shape[3] + left + right), zx, dtype=x.dtype)
        padded[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
        ho = (padded.shape[2] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
        wo = (padded.shape[3] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
        og = o // group
        wk = w.transpose(2, 3, 1, 0).reshape(kh * kw * cg, o)
        out = np.empty((x.shape[0], o, ho, wo), dtype=np.int32)
        for img in range(x.shape[0]):
            for g in range(group):
                patches = conv_patches(padded[img, g * cg:(g + 1) * cg], (kh, kw), strides, (0, 0, 0, 0), dilations)
                w_g = np.ascontiguousarray(wk[:, g * og:(g + 1) * og])
                acc, stats = qmatmul_integer(np.ascontiguousarray(patches), w_g, zx, zw, hw=self.profile)
                self._record(stats)
                out[img, g * og:(g + 1) * og] = acc.astype(np.int32).T.reshape(og, ho, wo)
        env[n.outputs[0]] = out
