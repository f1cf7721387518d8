"""all-MiniLM-L6-v2 as a float ONNX graph, written from its safetensors weights (no torch).

The graph is BERT's encoder for one sentence (batch 1, any length, no padding so no attention mask):
input_ids, token_type_ids -> last_hidden_state (1, seq, 384). It is what ``torch.onnx.export`` of the
transformers model computes (tests check it against accelsim's numpy forward, itself checked against
PyTorch), in plain ONNX ops: Gather, Add, LayerNormalization, MatMul, Reshape, Transpose, Softmax, Div,
Erf, Mul. ``scripts/build_minilm_onnx.py`` exports the real thing from PyTorch instead.
"""

from __future__ import annotations

import math

import numpy as np


def minilm_onnx(model=None, opset: int = 17):
    """The float ONNX ModelProto of the bundled MiniLM (``model``: an accelsim.models.minilm.MiniLM)."""
    from onnx import TensorProto, helper, numpy_helper

    from accelsim.models.minilm import load_minilm

    m = model or load_minilm()
    cfg = m.config
    w = m.weights
    inits, nodes = [], []

    names: set[str] = set()

    def const(name, value, dtype=np.float32):
        if name not in names:  # shared constants (sqrt(2), 0.5, ...) are written once
            names.add(name)
            inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def ln(x, prefix, name):
        return node("LayerNormalization", [x, const(f"{prefix}.weight", w[f"{prefix}.weight"]),
                                           const(f"{prefix}.bias", w[f"{prefix}.bias"])], name, axis=-1,
                    epsilon=cfg.eps)

    def linear(x, i, key, name):
        wk, b = m.linear_params(i, key)
        y = node("MatMul", [x, const(f"l{i}.{key}.weight", wk)], f"{name}/MatMul")
        return node("Add", [y, const(f"l{i}.{key}.bias", b)], f"{name}/Add")

    ids = "input_ids"
    word = node("Gather", [const("word_embeddings", w["embeddings.word_embeddings.weight"]), ids], "emb/word")
    types = node("Gather", [const("type_embeddings", w["embeddings.token_type_embeddings.weight"]), "token_type_ids"],
                 "emb/type")
    shape = node("Shape", [ids], "emb/shape")
    seq = node("Gather", [shape, const("one", 1, np.int64)], "emb/seq")
    zero = const("zero", 0, np.int64)
    pos_ids = node("Range", [zero, seq, const("step", 1, np.int64)], "emb/pos_ids")
    pos = node("Gather", [const("position_embeddings", w["embeddings.position_embeddings.weight"]), pos_ids], "emb/pos")
    h = node("Add", [node("Add", [word, types], "emb/add1"), pos], "emb/add2")
    h = ln(h, "embeddings.LayerNorm", "emb/ln")
    heads_shape = const("heads_shape", [1, -1, cfg.heads, cfg.head_dim], np.int64)
    merge_shape = const("merge_shape", [1, -1, cfg.hidden], np.int64)
    scale = const("sqrt_head_dim", math.sqrt(cfg.head_dim))
    for i in range(cfg.layers):
        p = f"layer.{i}"
        pre = f"encoder.layer.{i}."

        def split(x, tag):
            r = node("Reshape", [x, heads_shape], f"{p}/{tag}/Reshape")
            return node("Transpose", [r], f"{p}/{tag}/Transpose", perm=[0, 2, 1, 3])

        q = split(linear(h, i, "query", f"{p}/query"), "q")
        k = split(linear(h, i, "key", f"{p}/key"), "k")
        v = split(linear(h, i, "value", f"{p}/value"), "v")
        kt = node("Transpose", [k], f"{p}/kT", perm=[0, 1, 3, 2])
        scores = node("Div", [node("MatMul", [q, kt], f"{p}/scores/MatMul"), scale], f"{p}/scores/Div")
        probs = node("Softmax", [scores], f"{p}/probs", axis=-1)
        ctx = node("MatMul", [probs, v], f"{p}/context/MatMul")
        ctx = node("Reshape", [node("Transpose", [ctx], f"{p}/context/Transpose", perm=[0, 2, 1, 3]), merge_shape],
                   f"{p}/context/Reshape")
        a = linear(ctx, i, "attn_out", f"{p}/attn_out")
        h = ln(node("Add", [a, h], f"{p}/attn_residual"), pre + "attention.output.LayerNorm", f"{p}/attn_norm")
        f = linear(h, i, "ffn_in", f"{p}/ffn_in")
        erf = node("Erf", [node("Div", [f, const("sqrt2", math.sqrt(2.0))], f"{p}/gelu/Div")], f"{p}/gelu/Erf")
        g = node("Mul", [node("Mul", [f, node("Add", [erf, const("one_f", 1.0)], f"{p}/gelu/Add")], f"{p}/gelu/Mul"),
                         const("half", 0.5)], f"{p}/gelu/Mul_1")
        o = linear(g, i, "ffn_out", f"{p}/ffn_out")
        h = ln(node("Add", [o, h], f"{p}/out_residual"), pre + "output.LayerNorm", f"{p}/out_norm")
    nodes.append(helper.make_node("Identity", [h], ["last_hidden_state"], name="output"))
    graph = helper.make_graph(
        nodes, "minilm_l6", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "seq"]),
                             helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, [1, "seq"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [1, "seq", cfg.hidden])],
        initializer=inits)
    model_proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model_proto.ir_version = 8
    return model_proto
