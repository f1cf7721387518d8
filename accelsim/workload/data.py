"""Tensors for a workload: seeded synthetic data with realistic structure, or real tensors from .npz.

Synthetic data is generated per tensor name from (seed, name), so every profile of a comparison
sees the same numbers and a layer's data does not change when other layers are added.
- weights: normal / laplace / uniform with a per-output-channel spread (log-uniform scale factors
  between 1 and ``channel_spread``), as trained layers show;
- activations: optional ReLU-like skew (CNNs) and LLM-style outlier channels: a fixed fraction of
  feature channels ``outlier_magnitude`` times larger, the same channels for every token
  (Dettmers et al., LLM.int8(), 2022).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from accelsim.errors import InputError
from accelsim.workload.layers import Layer
from accelsim.workload.workload import Workload


def _rng(seed: int, name: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _draw(rng: np.random.Generator, distribution: str, shape, scale: float) -> np.ndarray:
    if distribution == "normal":
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)
    if distribution == "laplace":
        return rng.laplace(0.0, scale / math.sqrt(2.0), shape).astype(np.float32)
    return rng.uniform(-scale * math.sqrt(3.0), scale * math.sqrt(3.0), shape).astype(np.float32)


class DataSource:
    """Float tensors for the workload's inputs and layer parameters (float32)."""

    def __init__(self, workload: Workload):
        self.workload = workload
        self.spec = workload.data
        self._npz = None
        #: what the user should know about the data (extra arrays, synthetic stand-ins): printed by the CLI
        self.warnings: list[str] = list(workload.graph.warnings) if workload.graph is not None else []
        if self.spec.source == "npz":
            from accelsim.workload.npz import read_npz

            self._npz = read_npz(self.spec.path, what="workload inputs and layer weights")
            self._check_npz()

    def _check_npz(self) -> None:
        """Every input must be in the archive; weights may fall back to synthetic ones, with a warning."""
        from accelsim.configfile import suggest

        path = self.spec.path
        present = sorted(self._npz)
        for t in self.workload.inputs:
            if t.name not in self._npz:
                raise InputError(f"array '{t.name}' (workload input, shape {list(t.shape)}) is missing"
                                 f"{suggest(t.name, present)}; arrays in the file: {', '.join(present)[:300]}",
                                 source=path)
            rows = min(self.workload.sample, t.shape[0]) if t.sampled else t.shape[0]
            self._from_npz(t.name, t.shape, rows=rows)
        expected = {t.name for t in self.workload.inputs}
        synthetic = []
        for layer in self.workload.layers:
            if layer.op not in ("linear", "conv2d"):
                continue
            keys = [(f"{layer.name}.weight", layer.weight_shape)]
            if layer.bias:
                n = layer.out_shape[-1] if layer.op == "linear" else layer.out_shape[1]
                keys.append((f"{layer.name}.bias", (n,)))
            for key, shape in keys:
                expected.add(key)
                if key in self._npz:
                    self._from_npz(key, shape)
                else:
                    synthetic.append(key)
        extra = [k for k in present if k not in expected]
        if extra:
            self.warnings.append(f"{path}: arrays not used by workload '{self.workload.name}': "
                                 + ", ".join(f"'{k}'{suggest(k, sorted(expected))}" for k in extra)[:400])
        if synthetic:
            self.warnings.append(f"{path}: no array for {', '.join(synthetic)[:300]}; synthetic (seeded) "
                                 f"tensors stand in for them")

    def _from_npz(self, key: str, shape: tuple[int, ...], *, rows: int | None = None) -> np.ndarray | None:
        if self._npz is None or key not in self._npz:
            return None
        raw = self._npz[key]
        arr = np.asarray(raw, dtype=np.float32)
        if raw.dtype.kind in "iuf" and arr.size and not np.isfinite(arr).all():
            raise InputError(f"array '{key}' has values beyond float32's range (|x| > 3.4e38)", source=self.spec.path)
        expect = shape if rows is None else (rows, *shape[1:])
        if rows is not None and arr.shape[1:] == shape[1:] and arr.shape[0] >= rows:
            arr = arr[:rows]
        if arr.shape != expect:
            need = (f"{list(expect)} (at least {rows} rows of {list(shape[1:])})" if rows is not None
                    else str(list(expect)))
            raise InputError(f"array '{key}' has shape {list(raw.shape)}, the workload needs {need}",
                             source=self.spec.path)
        return arr

    def input(self, name: str, rows: int) -> np.ndarray:
        """The first ``rows`` items of workload input ``name`` (all of it if not sampled)."""
        spec = next(t for t in self.workload.inputs if t.name == name)
        n = rows if spec.sampled else spec.shape[0]
        arr = self._from_npz(name, spec.shape, rows=n)
        if arr is not None:
            return arr
        act = self.spec.activations
        shape = (n, *spec.shape[1:])
        rng = _rng(self.spec.seed, f"input:{name}")
        x = _draw(rng, act.distribution, shape, act.scale)
        if act.outlier_fraction > 0:
            channels = shape[-1] if len(shape) != 4 else shape[1]
            count = max(1, int(round(act.outlier_fraction * channels)))
            idx = _rng(self.spec.seed, f"outliers:{name}").choice(channels, size=count, replace=False)
            if len(shape) == 4:
                x[:, idx] *= np.float32(act.outlier_magnitude)
            else:
                x[..., idx] *= np.float32(act.outlier_magnitude)
        if act.relu_skew:
            x = np.abs(x) * np.float32(0.8) + x * np.float32(0.2)
        return x

    def weight(self, layer: Layer) -> np.ndarray:
        shape = layer.weight_shape
        arr = self._from_npz(f"{layer.name}.weight", shape)
        if arr is not None:
            return arr
        ws = self.spec.weights
        fan_in = shape[0] if layer.op == "linear" else math.prod(shape[1:])
        scale = ws.scale if ws.scale > 0 else 1.0 / math.sqrt(fan_in)
        rng = _rng(self.spec.seed, f"weight:{layer.name}")
        w = _draw(rng, ws.distribution, shape, scale)
        if ws.channel_spread > 1.0:
            out_channels = shape[-1] if layer.op == "linear" else shape[0]
            factors = np.exp(rng.uniform(0.0, math.log(ws.channel_spread), out_channels)).astype(np.float32)
            factors /= factors.mean()
            w = w * (factors[None, :] if layer.op == "linear" else factors[:, None, None, None])
        return w

    def bias(self, layer: Layer) -> np.ndarray | None:
        if not layer.bias:
            return None
        n = layer.out_shape[-1] if layer.op == "linear" else layer.out_shape[1]
        arr = self._from_npz(f"{layer.name}.bias", (n,))
        if arr is not None:
            return arr
        return _draw(_rng(self.spec.seed, f"bias:{layer.name}"), "normal", (n,), 0.05)
