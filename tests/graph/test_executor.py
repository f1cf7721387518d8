"""The one graph executor: a graph run under a contract wide enough to hold every value equals its float
reference exactly; the same graph on a narrow contract does not (so the property can fail). Both roads into
the executor are exercised: a graph built in Python (MatMul + bias Add fused into integer layers, the ONNX /
real-model road) and a YAML workload of layers (the integer-chain road)."""

from __future__ import annotations

import math

import numpy as np
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.engine import run
from accelsim.graph.ir import Graph, Node, TensorInfo
from accelsim.graph.workload import graph_workload
from accelsim.hardware import load_profile
from accelsim.workload.layers import LayerQuant, QuantIntent

#: a contract that represents these graphs exactly: int16 operands, power-of-two scales (integer values with a
#: power-of-two scale <= 1 quantize without error), wide accumulators, a shift-only requantizer (exact when the
#: result is an integer multiple of the output step)
WIDE_POT16 = {
    "name": "wide-pot16", "description": "test contract: int16 operands, 48-bit accumulators, power-of-two scales",
    "clock_hz": 1.0e9, "array": {"rows": 8, "cols": 8, "dataflow": "output_stationary"},
    "operands": {"weights": ["int16"], "activations": ["int16"]},
    "accumulator": {"bits": 48, "overflow": "wrap", "chunk": "none"},
    "requant": {"scale": "power_of_two", "rounding": "half_even", "granularity": ["per_tensor"]},
    "zero_point": {"weights": "symmetric", "activations": "symmetric"},
    "memory": [{"name": "dram", "bandwidth_Bps": 1.0e10, "energy_pj_per_byte": 20, "latency_cycles": 10},
               {"name": "sram", "bytes": 1048576, "bandwidth_Bps": 1.0e11}],
}
INT16 = LayerQuant(weights=QuantIntent(bits=16, symmetric=True, granularity="per_tensor"),
                   activations=QuantIntent(bits=16, symmetric=True, granularity="per_tensor"))


def _profile(tmp_path):
    path = tmp_path / "wide-pot16.yaml"
    path.write_text(yaml.safe_dump(WIDE_POT16))
    return load_profile(str(path))


def _mlp_graph(w1, b1, w2, b2) -> Graph:
    consts = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
    nodes = [Node("fc1", "MatMul", ("x", "w1"), ("fc1",)), Node("fc1/bias", "Add", ("fc1", "b1"), ("fc1/bias",)),
             Node("act", "Relu", ("fc1/bias",), ("act",)), Node("fc2", "MatMul", ("act", "w2"), ("fc2",)),
             Node("fc2/bias", "Add", ("fc2", "b2"), ("y",))]
    return Graph(name="mlp", nodes=tuple(nodes), constants=consts, inputs=(TensorInfo("x", np.float64, ("m", w1.shape[0])),),
                 outputs=("y",))


def _ints(rng, shape, bound):
    return rng.integers(-bound, bound + 1, shape).astype(np.float64)


def _case(m, k, h, n, seed):
    rng = np.random.default_rng(seed)
    x = _ints(rng, (m, k), 3)
    x[0, 0] = 3  # every tensor spans a few codes at least
    return x, _ints(rng, (k, h), 3), _ints(rng, (h,), 20), _ints(rng, (h, n), 3), _ints(rng, (n,), 20)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 6), k=st.integers(1, 8), h=st.integers(1, 8), n=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_graph_on_a_wide_contract_equals_the_float_reference(tmp_path_factory, m, k, h, n, seed):
    x, w1, b1, w2, b2 = _case(m, k, h, n, seed)
    profile = _profile(tmp_path_factory.mktemp("p"))
    wl = graph_workload(_mlp_graph(w1, b1, w2, b2), calibration=[{"x": x}], quant=INT16, metric=None)
    assert [layer.op for layer in wl.layers] == ["linear", "relu", "linear"]  # bias Adds fused, Relu timed
    result = run(wl, profile)
    f = result.frame.set_index("layer")
    for name in ("fc1", "fc2"):
        assert not f.loc[name, "ran_in_float"]
        assert f.loc[name, "overflow_events"] == 0 and f.loc[name, "saturation_events"] == 0
        assert f.loc[name, "sqnr_db"] == math.inf and f.loc[name, "max_abs_error"] == 0.0


def test_the_same_graph_on_int8_is_not_exact(tmp_path):
    x, w1, b1, w2, b2 = _case(6, 8, 8, 8, seed=1)
    wl = graph_workload(_mlp_graph(w1, b1, w2, b2), calibration=[{"x": x * 37.0}], metric=None)
    f = run(wl, load_profile("tensorcore-int8")).frame.set_index("layer")
    assert math.isfinite(f.loc["fc2", "sqnr_db"]) and f.loc["fc2", "max_abs_error"] > 0


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 6), k=st.integers(1, 8), h=st.integers(1, 8), n=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_yaml_layers_on_a_wide_contract_equal_the_float_reference(tmp_path_factory, m, k, h, n, seed):
    """The same network as YAML layers with integer-valued tensors from an .npz: the integer chain is exact."""
    from accelsim.loading import load_workload

    d = tmp_path_factory.mktemp("w")
    x, w1, b1, w2, b2 = _case(m, k, h, n, seed)
    np.savez(d / "t.npz", x=x, **{"fc1.weight": w1, "fc1.bias": b1, "fc2.weight": w2, "fc2.bias": b2})
    (d / "w.yaml").write_text(yaml.safe_dump({
        "name": "exact", "inputs": {"x": {"shape": [m, k]}},
        "quant": {"weights": {"bits": 16, "symmetric": True, "granularity": "per_tensor"},
                  "activations": {"bits": 16, "symmetric": True}},
        "data": {"source": "npz", "path": "t.npz"}, "numerics": {"sample": m},
        "layers": [{"name": "fc1", "op": "linear", "out_features": h, "bias": True},
                   {"name": "act", "op": "relu"},
                   {"name": "fc2", "op": "linear", "out_features": n, "bias": True}]}))
    f = run(load_workload(d / "w.yaml"), _profile(d)).frame.set_index("layer")
    assert (f["sqnr_db"] == math.inf).all() and (f["max_abs_error"] == 0.0).all()
    assert f["overflow_events"].sum() == 0 and f["saturation_events"].sum() == 0


def test_a_bias_beyond_the_contracts_bias_width_is_clamped_and_said(tmp_path):
    """16-bit operands make x_scale * w_scale tiny: a bias of 19 needs 2^32 codes. With 48-bit partial sums the
    bias is 48 bits wide and exact (above); with 32-bit ones it is clamped, and the result says so."""
    from accelsim.hardware import load_profile as load

    narrow = {**WIDE_POT16, "name": "pot16-acc32", "accumulator": {"bits": 32, "overflow": "wrap", "chunk": "none"}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(narrow))
    x, w1, b1, w2, b2 = _case(4, 1, 1, 1, seed=0)
    wl = graph_workload(_mlp_graph(w1, np.array([-19.0]), w2, b2), calibration=[{"x": x}], quant=INT16, metric=None)
    result = run(wl, load(str(path)))
    assert any("bias value(s) exceed the contract's int32 bias" in n and n.startswith("fc1") for n in result.notes)
    assert result.frame.set_index("layer").loc["fc1", "max_abs_error"] > 0
