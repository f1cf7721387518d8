"""all-MiniLM-L6-v2 as accelsim's graph IR, built from its safetensors weights (no torch, no onnx).

BERT's encoder for one sentence (batch 1, any length, no padding so no attention mask): input_ids,
token_type_ids -> last_hidden_state (1, seq, 384), in ONNX's op vocabulary: Gather, Add,
LayerNormalization, MatMul, Reshape, Transpose, Softmax, Div, Erf, Mul — what ``torch.onnx.export`` of the
transformers model computes (tests check the exported graph against accelsim's numpy forward, itself checked
against PyTorch, and run it in ONNX Runtime). ``accelsim.models.minilm_onnx`` writes this graph as ONNX.

Node names say what each is: ``l{i}.{query,key,value,attn_out,ffn_in,ffn_out}`` are the linear layers' MatMuls
(their bias Add is ``.../bias``), ``l{i}.scores`` / ``l{i}.context`` the attention matmuls, ``l{i}.probs`` the
softmax, ``l{i}.attn_norm`` / ``l{i}.out_norm`` the LayerNorms. The workload keeps the attention matmuls in
float (``Graph.float_nodes``): the model's stated choice, and the report says so.
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.graph.ir import Graph, Node, TensorInfo

#: linear layers of one encoder layer, in execution order
LINEARS = ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")


def minilm_graph(model=None, dtype=np.float64) -> Graph:
    """The float graph of the bundled MiniLM (``model``: an accelsim.models.minilm.MiniLM) with weights and
    arithmetic in ``dtype``: float64 (the default) is the numpy reference forward's precision, which the
    float reference and accelsim's quantizers see; float32 is what an ONNX export carries."""
    from accelsim.models.minilm import load_minilm

    m = model or load_minilm()
    cfg = m.config
    w = m.weights
    constants: dict[str, np.ndarray] = {}
    nodes: list[Node] = []

    float_dtype = dtype

    def const(name, value, dtype=None):
        # shared constants (sqrt(2), 0.5) are written once
        constants.setdefault(name, np.asarray(value, dtype=dtype or float_dtype))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(Node(name=name, op_type=op, inputs=tuple(inputs), outputs=(name,), attrs=attrs))
        return name

    def ln(x, prefix, name):
        return node("LayerNormalization", [x, const(f"{prefix}.weight", w[f"{prefix}.weight"]),
                                           const(f"{prefix}.bias", w[f"{prefix}.bias"])], name, axis=-1,
                    epsilon=cfg.eps)

    def linear(x, i, key):
        wk, b = m.linear_params(i, key)
        y = node("MatMul", [x, const(f"l{i}.{key}.weight", wk)], f"l{i}.{key}")
        return node("Add", [y, const(f"l{i}.{key}.bias", b)], f"l{i}.{key}/bias")

    ids = "input_ids"
    word = node("Gather", [const("word_embeddings", w["embeddings.word_embeddings.weight"]), ids], "emb/word")
    types = node("Gather", [const("type_embeddings", w["embeddings.token_type_embeddings.weight"]), "token_type_ids"],
                 "emb/type")
    shape = node("Shape", [ids], "emb/shape")
    seq = node("Gather", [shape, const("one", 1, np.int64)], "emb/seq")
    pos_ids = node("Range", [const("zero", 0, np.int64), seq, const("step", 1, np.int64)], "emb/pos_ids")
    pos = node("Gather", [const("position_embeddings", w["embeddings.position_embeddings.weight"]), pos_ids], "emb/pos")
    h = node("Add", [node("Add", [word, types], "emb/add1"), pos], "emb/add2")
    h = ln(h, "embeddings.LayerNorm", "emb/norm")
    heads_shape = const("heads_shape", [1, -1, cfg.heads, cfg.head_dim], np.int64)
    merge_shape = const("merge_shape", [1, -1, cfg.hidden], np.int64)
    scale = const("sqrt_head_dim", math.sqrt(cfg.head_dim))
    float_nodes = []
    for i in range(cfg.layers):
        p = f"l{i}"
        pre = f"encoder.layer.{i}."

        def split(x, tag):
            r = node("Reshape", [x, heads_shape], f"{p}.{tag}/split")
            return node("Transpose", [r], f"{p}.{tag}/heads", perm=[0, 2, 1, 3])

        q = split(linear(h, i, "query"), "query")
        k = split(linear(h, i, "key"), "key")
        v = split(linear(h, i, "value"), "value")
        kt = node("Transpose", [k], f"{p}.key/transposed", perm=[0, 1, 3, 2])
        scores = node("Div", [node("MatMul", [q, kt], f"{p}.scores"), scale], f"{p}.scores/scaled")
        probs = node("Softmax", [scores], f"{p}.probs", axis=-1)
        ctx = node("MatMul", [probs, v], f"{p}.context")
        float_nodes += [f"{p}.scores", f"{p}.context"]
        ctx = node("Reshape", [node("Transpose", [ctx], f"{p}.context/heads", perm=[0, 2, 1, 3]), merge_shape],
                   f"{p}.context/merge")
        a = linear(ctx, i, "attn_out")
        h = ln(node("Add", [a, h], f"{p}.attn_residual"), pre + "attention.output.LayerNorm", f"{p}.attn_norm")
        f = linear(h, i, "ffn_in")
        erf = node("Erf", [node("Div", [f, const("sqrt2", math.sqrt(2.0))], f"{p}.gelu/scaled")], f"{p}.gelu/erf")
        g = node("Mul", [node("Mul", [f, node("Add", [erf, const("one_f", 1.0)], f"{p}.gelu/add")], f"{p}.gelu/mul"),
                         const("half", 0.5)], f"{p}.gelu")
        o = linear(g, i, "ffn_out")
        h = ln(node("Add", [o, h], f"{p}.out_residual"), pre + "output.LayerNorm", f"{p}.out_norm")
    nodes.append(Node(name="output", op_type="Identity", inputs=(h,), outputs=("last_hidden_state",)))
    return Graph(name="minilm_l6", nodes=tuple(nodes), constants=constants,
                 inputs=(TensorInfo("input_ids", np.int64, (1, "seq")), TensorInfo("token_type_ids", np.int64,
                                                                                   (1, "seq"))),
                 outputs=("last_hidden_state",), source="all-MiniLM-L6-v2 (built from its weights)",
                 float_nodes=frozenset(float_nodes), opset=17,
                 output_info=(TensorInfo("last_hidden_state", dtype, (1, "seq", cfg.hidden)),))
