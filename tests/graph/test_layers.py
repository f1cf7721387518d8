"""MAC-like ONNX ops outside MatMul/Gemm/Conv are timed on the array by their MACs (accelsim.graph.layers): each
layer's MAC count equals the op's by its definition, counted here by hand."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.graph.layers import graph_layers  # noqa: E402
from accelsim.onnx.graph import OnnxGraph  # noqa: E402
from accelsim.workload.layers import LayerQuant, QuantIntent  # noqa: E402

QUANT = LayerQuant(weights=QuantIntent(), activations=QuantIntent())


def _layers(tmp_path, nodes, inputs: dict, inits=(), opset=23):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape))
                                       for k, v in inputs.items()],
                          [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, [])],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "m.onnx"))
    return {layer.name: layer for layer in graph_layers(OnnxGraph(tmp_path / "m.onnx"), inputs, QUANT)}


def _rand(*shape):
    return np.random.default_rng(len(shape)).normal(0, 1, shape).astype(np.float32)


def test_attention_4d(tmp_path):
    b, h, sq, skv, dh, dv = 2, 4, 5, 7, 8, 6
    ins = {"q": _rand(b, h, sq, dh), "k": _rand(b, h, skv, dh), "v": _rand(b, h, skv, dv)}
    layers = _layers(tmp_path, [helper.make_node("Attention", ["q", "k", "v"], ["y"], name="attn")], ins)
    assert layers["attn"].macs == b * h * sq * skv * (dh + dv)


def test_attention_3d_grouped_heads_with_past(tmp_path):
    b, hq, hkv, sq, skv, past, d = 1, 8, 2, 3, 4, 6, 16
    ins = {"q": _rand(b, sq, hq * d), "k": _rand(b, skv, hkv * d), "v": _rand(b, skv, hkv * d),
           "pk": _rand(b, hkv, past, d), "pv": _rand(b, hkv, past, d)}
    node = helper.make_node("Attention", ["q", "k", "v", "", "pk", "pv"], ["y", "present_k", "present_v"],
                            q_num_heads=hq, kv_num_heads=hkv, name="attn")
    layers = _layers(tmp_path, [node], ins)
    assert layers["attn"].macs == b * hq * sq * (skv + past) * 2 * d


def test_deform_conv(tmp_path):
    n, c, h, w, o, k, group = 1, 4, 6, 7, 6, 3, 2
    ins = {"x": _rand(n, c, h, w), "offset": _rand(n, 2 * k * k, h - k + 1, w - k + 1) * 0.1}
    inits = [("w", _rand(o, c // group, k, k))]
    layers = _layers(tmp_path, [helper.make_node("DeformConv", ["x", "w", "offset"], ["y"], group=group,
                                                 kernel_shape=[k, k], name="dc")], ins, inits, opset=19)
    assert layers["dc"].macs == n * o * (h - k + 1) * (w - k + 1) * (c // group) * k * k


def test_einsum_and_lstm(tmp_path):
    ins = {"a": _rand(3, 5, 7), "b": _rand(3, 7, 4)}
    layers = _layers(tmp_path, [helper.make_node("Einsum", ["a", "b"], ["y"], equation="bij,bjk->bik", name="e")],
                     ins, opset=17)
    assert layers["e"].macs == 3 * 5 * 7 * 4
    seq, batch, inp, hidden = 6, 2, 5, 8
    inits = [("W", _rand(1, 4 * hidden, inp)), ("R", _rand(1, 4 * hidden, hidden))]
    layers = _layers(tmp_path, [helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=hidden, name="lstm")],
                     {"x": _rand(seq, batch, inp)}, inits, opset=17)
    assert layers["lstm"].macs == seq * batch * (inp + hidden) * 4 * hidden
