"""A graph's layers as the timing model sees them: its integer layers, its float MAC nodes and the float glue it
times, with their shapes at the bound inputs (one float run of the graph)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from accelsim.ops.nn import conv_pads
from accelsim.workload.layers import Layer, LayerQuant, QuantIntent


def _intent(L) -> LayerQuant:
    from accelsim.graph.contract import is_symmetric

    if L.x_q is None:
        return None
    acts = [p for p in (L.x_q, L.y_q, L.b_q if L.kind == "matmul" else None) if p is not None]
    a = QuantIntent(bits=8 if all(np.asarray(p.zero_point).dtype.itemsize == 1 for p in acts) else 16,
                    symmetric=all(is_symmetric(p) for p in acts), granularity="per_tensor")
    if L.kind == "matmul":
        return LayerQuant(weights=a, activations=a)
    w = QuantIntent(bits=8 * np.asarray(L.b_q.zero_point).dtype.itemsize, symmetric=is_symmetric(L.b_q),
                    granularity="per_channel" if L.b_q.per_channel else "per_tensor")
    return LayerQuant(weights=w, activations=a)


def graph_layers(g, feed: dict, defaults: LayerQuant, subgraph_layers=None) -> list[Layer]:
    """accelsim layers for the integer layers and the timed float glue, at the shapes of ``feed``.
    ``subgraph_layers(node, g, values, shapes, defaults)``: the layers of a Loop's or Scan's body over all its
    iterations (accelsim.onnx.loops; without it, loops are not timed); ``values`` holds the tensors their bodies
    read."""
    from accelsim.graph.execute import run_graph

    shapes: dict[str, tuple] = {}
    kinds: dict[str, str] = {}
    looped = [n for n in g.nodes if n.op_type in ("Loop", "Scan")] if subgraph_layers else []
    kept = {i for n in looped for i in (*n.inputs, *n.captures) if i}
    values = {k: v for k, v in feed.items() if k in kept}

    def tap(name, value):
        v = np.asarray(value)
        shapes[name] = v.shape
        kinds[name] = v.dtype.kind
        if name in kept:
            values[name] = v

    run_graph(g, feed, tap=tap)
    for k, v in feed.items():
        shapes[k] = v.shape
        kinds[k] = np.asarray(v).dtype.kind  # a glue op reading a model input is timed like any other
    by_node = {id(L.node): L for L in g.layers}
    inserted = {n.key: n for n in g.nodes if n.key.endswith("/insert")}  # accelsim.onnx.conv_transpose
    fused = {id(L.bias_node) for L in g.layers if L.bias_node is not None}  # timed with their layer
    layers, used = [], set()
    for node in g.nodes:
        if id(node) in fused:
            continue
        name = node.key
        if name in used:
            name = f"{name}#{len(used)}"
        L = by_node.get(id(node))
        if node.op_type in ("Loop", "Scan") and subgraph_layers and node.outputs[0] in shapes:
            body = subgraph_layers(node, g, values, shapes, defaults)
            used.update(b.name for b in body)
            layers += body
            continue
        if L is not None:
            quant = _intent(L) or defaults
            y = shapes[L.y_float]
            if L.kind == "linear":
                layer = Layer(name=name, op="linear", inputs=(L.x_float,), in_shapes=(shapes[L.x_float],),
                              out_shape=y, quant=quant, bias=L.bias is not None)
            elif L.kind == "conv2d" and f"{L.node.key}/insert" in inserted:  # a ConvTranspose, by its own MACs
                src = inserted[f"{L.node.key}/insert"].inputs[0]
                if src not in shapes:  # a QuantizeLinear's integers (the float run passes its input on untapped)
                    src = g.producer[src].inputs[0]
                layer = _transposed_mac_layer(name, src, shapes[src], L.weight.shape[0] * L.weight.shape[2]
                                              * L.weight.shape[3], int(L.conv_attrs.get("group", 1)), quant,
                                              L.bias is not None)
            elif L.kind == "conv2d":
                a = L.conv_attrs
                layer = Layer(name=name, op="conv2d", inputs=(L.x_float,), in_shapes=(shapes[L.x_float],), out_shape=y,
                              quant=quant, bias=L.bias is not None, kernel=tuple(L.weight.shape[2:]),
                              stride=tuple(a.get("strides", (1, 1))),
                              padding=conv_pads(a, shapes[L.x_float][2:], L.weight.shape[2:]),
                              dilation=tuple(a.get("dilations", (1, 1))), groups=int(a.get("group", 1)))
            else:
                layer = Layer(name=name, op="matmul", inputs=(L.x_float, L.b_float),
                              in_shapes=(shapes[L.x_float], shapes[L.b_float]), out_shape=y, quant=quant)
            L.name = name
        elif node.op_type in ("MatMul", "Gemm", "Conv") and kinds.get(node.outputs[0]) == "f":
            layer = _float_mac_layer(g, node, name, shapes, defaults)
        elif node.op_type == "ConvTranspose" and kinds.get(node.outputs[0]) == "f":
            layer = _conv_transpose_layer(g, node, name, shapes, defaults)
        elif node.op_type in _MAC_LIKE and node.outputs[0] in shapes:
            layer = _MAC_LIKE[node.op_type](g, node, name, shapes, defaults)
        elif kinds.get(node.outputs[0]) == "f" and node.outputs[0] in shapes:
            layer = _vector_layer(node, name, shapes, kinds, defaults)
            if layer is None:
                continue
        else:
            continue
        used.add(name)
        layers.append(layer)
    return layers


def _vector_layer(node, name: str, shapes: dict, kinds: dict, defaults: LayerQuant) -> Layer | None:
    """A float op on the vector unit, costed as the op registry says (accelsim.ops): ``ops`` operations per output
    element, per input element for a reduction, per window cell for pooling; None for layout-only ops (views,
    shape arithmetic, Q/DQ) and for MAC-like ops the registry leaves to the array (timed elsewhere)."""
    from accelsim.ops import attrs, lookup

    d = lookup(node.op_type)
    if d is None or d.cost in ("layout", "mac"):
        return None
    out = shapes[node.outputs[0]]
    ins = [i for i in node.inputs if i in shapes and kinds.get(i) == "f" and math.prod(shapes[i]) >= 1]
    if not ins:
        return None
    window = {}
    in_elements = sum(math.prod(shapes[i]) for i in ins)
    out_elements = sum(math.prod(shapes[o]) for o in node.outputs if o in shapes)
    if d.cost == "window":
        a = attrs(node)
        k = tuple(a.get("kernel_shape", (1, 1)))
        work = out_elements * math.prod(k)
        if len(out) == 4 and len(k) == 2:
            window = dict(kernel=k, stride=tuple(a.get("strides", (1, 1))),
                          padding=tuple(a.get("pads", (0, 0, 0, 0))))
    elif d.cost == "reduce":
        work = in_elements * d.ops
    else:
        work = out_elements * d.ops
    return Layer(name=name, op=d.timed_as, inputs=tuple(ins[:2]), in_shapes=tuple(shapes[i] for i in ins[:2]),
                 out_shape=out, quant=defaults, work=max(int(work), 1), **window)


def _conv_transpose_layer(g, node, name: str, shapes: dict, defaults: LayerQuant) -> Layer:
    """A float ConvTranspose (its weight (C_in, O/g, kh, kw)) on the MAC array."""
    w = tuple(np.shape(g.constants[node.inputs[1]])) if node.inputs[1] in g.constants else tuple(shapes[node.inputs[1]])
    group = int(node.attrs.get("group", 1))
    return _transposed_mac_layer(name, node.inputs[0], tuple(shapes[node.inputs[0]]), w[1] * group * math.prod(w[2:]),
                                 group, defaults, len(node.inputs) > 2 and bool(node.inputs[2]))


def _transposed_mac_layer(name: str, x_name: str, x: tuple, cols: int, group: int, quant: LayerQuant,
                          bias: bool) -> Layer:
    """A ConvTranspose on the MAC array as MLAS computes it: one GEMM per group, each input pixel's C_in/g
    channels times the weight (C_in/g, O/g x kh x kw) — the implicit GEMM of a 1x1 conv from the input ``x`` to
    ``cols`` = O x kh x kw channels (the col2im that adds the columns into the output is part of its epilogue).
    A QDQ ConvTranspose the contract runs as a Conv over its zero-inserted input (accelsim.onnx.conv_transpose)
    is timed so too: the inserted zeros are no work an accelerator's ConvTranspose does."""
    spatial = x[2:] if len(x) > 2 else (1,)
    h, wd = (1, spatial[0]) if len(spatial) == 1 else spatial[:2]
    return Layer(name=name, op="conv2d", inputs=(x_name,), in_shapes=((x[0], x[1], h, wd),),
                 out_shape=(x[0], cols, h, wd), quant=quant, bias=bias, kernel=(1, 1), groups=group)


def _float_mac_layer(g, node, name: str, shapes: dict, defaults: LayerQuant) -> Layer:
    """A MatMul / Gemm / Conv that is not an integer layer (a Gemm with alpha/beta != 1 or transA in a QDQ
    model, a node outside a Q/DQ pattern): it runs in float, and its MACs are timed and charged like the
    integer layer it would be on the array (at the contract's widths), so no cost goes missing."""
    from accelsim.ops import attrs

    a = attrs(node)

    def shape(t: str) -> tuple:
        return tuple(shapes[t]) if t in shapes else tuple(np.shape(g.constants[t]))

    x, w = shape(node.inputs[0]), shape(node.inputs[1])
    y = shape(node.outputs[0])
    has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
    if node.op_type == "Conv" and len(x) != 4:  # 1-D outside a Q/DQ pattern, 3-D: the same MACs as a conv2d of
        # height 1 over the flattened spatial axes, kernel the window's cells
        flat = lambda s: (s[0], s[1], 1, math.prod(s[2:]))  # noqa: E731
        return Layer(name=name, op="conv2d", inputs=(node.inputs[0],), in_shapes=(flat(x),), out_shape=flat(y),
                     quant=defaults, bias=has_bias, kernel=(1, math.prod(w[2:])), groups=int(a.get("group", 1)))
    if node.op_type == "Conv":
        return Layer(name=name, op="conv2d", inputs=(node.inputs[0],), in_shapes=(x,), out_shape=y, quant=defaults,
                     bias=has_bias, kernel=tuple(w[2:]), stride=tuple(a.get("strides", (1, 1))),
                     padding=conv_pads(a, x[2:], w[2:]) if len(x) == 4 else (0, 0, 0, 0),
                     dilation=tuple(a.get("dilations", (1, 1))),
                     groups=int(a.get("group", 1)))
    if node.op_type == "Gemm":
        x = x[::-1] if a.get("transA", 0) else x
        k, n = (w[1], w[0]) if a.get("transB", 0) else (w[0], w[1])
        return Layer(name=name, op="linear", inputs=(node.inputs[0],), in_shapes=((x[0], k),), out_shape=(x[0], n),
                     quant=defaults, bias=has_bias)
    if node.inputs[1] in g.constants and len(w) == 2:
        return Layer(name=name, op="linear", inputs=(node.inputs[0],), in_shapes=(x,), out_shape=y, quant=defaults)
    if len(x) < 2 or len(w) < 2:  # a vector operand: a GEMV with M = 1 (or N = 1)
        x2 = x if len(x) >= 2 else (1, x[0])
        w2 = w if len(w) >= 2 else (w[0], 1)
        return Layer(name=name, op="linear", inputs=(node.inputs[0],), in_shapes=(x2,), out_shape=(*x2[:-1], w2[-1]),
                     quant=defaults)
    batch = tuple(np.broadcast_shapes(tuple(x[:-2]), tuple(w[:-2])))
    return Layer(name=name, op="matmul", inputs=(node.inputs[0], node.inputs[1]),
                 in_shapes=((*batch, *x[-2:]), (*batch, *w[-2:])), out_shape=(*batch, x[-2], w[-1]), quant=defaults)


def _integer_mac_layer(g, node, name: str, shapes: dict, defaults: LayerQuant) -> Layer:
    """MatMulInteger / ConvInteger: the MatMul / Conv they are, on the array at the contract's widths."""
    from accelsim.graph.ir import Node

    as_float = Node(name=node.name, op_type="MatMul" if node.op_type == "MatMulInteger" else "Conv",
                    inputs=node.inputs[:2], outputs=node.outputs, attrs=node.attrs)
    return _float_mac_layer(g, as_float, name, shapes, defaults)


def _recurrent_layer(g, node, name: str, shapes: dict, defaults: LayerQuant) -> Layer:
    """LSTM / GRU / RNN: per time step and direction, the input and the recurrent projections of every gate —
    seq x batch x directions rows of (input + hidden) x gates x hidden MACs — one linear layer's worth on the
    array (the gate nonlinearities ride in its epilogue)."""
    x = tuple(shapes[node.inputs[0]])
    w = tuple(np.shape(g.constants[node.inputs[1]])) if node.inputs[1] in g.constants else tuple(shapes[node.inputs[1]])
    hidden = int(node.attrs.get("hidden_size", w[1] // {"LSTM": 4, "GRU": 3}.get(node.op_type, 1)))
    gates = {"LSTM": 4, "GRU": 3}.get(node.op_type, 1)
    seq, batch = (x[1], x[0]) if node.attrs.get("layout", 0) else (x[0], x[1])
    rows = seq * batch * w[0]
    return Layer(name=name, op="linear", inputs=(node.inputs[0],), in_shapes=((rows, x[-1] + hidden),),
                 out_shape=(rows, gates * hidden), quant=defaults, bias=True)


def _einsum_layer(g, node, name: str, shapes: dict, defaults: LayerQuant) -> Layer:
    """Einsum: every index's size multiplied once (the contraction's MACs), as a linear layer of that many
    MACs whose rows are the output's elements."""
    eq = node.attrs.get("equation", b"")
    eq = (eq.decode() if isinstance(eq, bytes) else eq).replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    sizes: dict[str, int] = {}
    for term, t in zip(lhs.split(","), node.inputs):
        shape = tuple(shapes[t]) if t in shapes else tuple(np.shape(g.constants[t]))
        letters = [c for c in term if c.isalpha()]
        for c, d in zip(letters, shape[-len(letters):] if letters else ()):
            sizes[c] = max(sizes.get(c, 1), int(d))
    out = max(1, math.prod(shapes[node.outputs[0]]))
    reduced = max(1, math.prod(v for c, v in sizes.items() if c not in rhs)) if rhs else max(1, math.prod(
        sizes.values()) // out)
    return Layer(name=name, op="linear", inputs=(node.inputs[0],), in_shapes=((out, reduced),), out_shape=(out, 1),
                 quant=defaults)


def _attention_layer(g, node, name: str, shapes: dict, defaults: LayerQuant) -> Layer:
    """ONNX Attention (opset 23): per batch and query head, Q K^T (Sq x dh x Skv) and P V (Sq x Skv x dv) — one
    batched matmul of Sq x (dh + dv) x Skv MACs; K and V heads shared by query groups (GQA) are read once. Q, K, V
    are (B, heads, S, d) or (B, S, heads x d) with the head counts as attributes; past K/V lengthen Skv. The
    softmax and masking are vector work not counted here."""
    def shape(t):
        return tuple(shapes[t]) if t in shapes else tuple(np.shape(g.constants[t]))

    q, k, v = (shape(t) for t in node.inputs[:3])
    a = node.attrs
    if len(q) == 4:
        batch, heads, sq, dh = q
        skv, dv = k[2], v[3]
    else:
        batch, sq = q[:2]
        heads = int(a.get("q_num_heads", 1))
        dh, skv, dv = q[2] // heads, k[1], v[2] // int(a.get("kv_num_heads", heads))
    past = node.inputs[4] if len(node.inputs) > 4 and node.inputs[4] else None
    skv += shape(past)[2] if past else 0
    bh, inner = batch * heads, dh + dv
    return Layer(name=name, op="matmul", inputs=(node.inputs[0], node.inputs[1]),
                 in_shapes=((bh, sq, inner), (bh, inner, skv)), out_shape=(bh, sq, skv), quant=defaults)


def _deform_conv_layer(g, node, name: str, shapes: dict, defaults: LayerQuant) -> Layer:
    """DeformConv (opset 19): the MACs of the conv it generalizes — every output pixel sums C/g x kh x kw
    bilinearly sampled inputs times the weight (the sampling itself is vector work not counted here)."""
    from accelsim.ops import attrs

    a = attrs(node)
    x, y = tuple(shapes[node.inputs[0]]), tuple(shapes[node.outputs[0]])
    w = tuple(shapes[node.inputs[1]]) if node.inputs[1] in shapes else tuple(np.shape(g.constants[node.inputs[1]]))
    if len(x) != 4:
        flat = lambda s: (s[0], s[1], 1, math.prod(s[2:]))  # noqa: E731
        return Layer(name=name, op="conv2d", inputs=(node.inputs[0],), in_shapes=(flat(x),), out_shape=flat(y),
                     quant=defaults, kernel=(1, math.prod(w[2:])), groups=int(a.get("group", 1)))
    return Layer(name=name, op="conv2d", inputs=(node.inputs[0],), in_shapes=(x,), out_shape=y, quant=defaults,
                 bias=len(node.inputs) > 3 and bool(node.inputs[3]), kernel=tuple(w[2:]),
                 stride=tuple(a.get("strides", (1, 1))), padding=tuple(a.get("pads", (0, 0, 0, 0))),
                 dilation=tuple(a.get("dilations", (1, 1))), groups=int(a.get("group", 1)))


#: MAC-like ops outside MatMul / Gemm / Conv / ConvTranspose, timed on the array by their MACs
_MAC_LIKE = {"MatMulInteger": _integer_mac_layer, "ConvInteger": _integer_mac_layer, "LSTM": _recurrent_layer,
             "GRU": _recurrent_layer, "RNN": _recurrent_layer, "Einsum": _einsum_layer, "Attention": _attention_layer,
             "DeformConv": _deform_conv_layer}


def executed_geometry(layer: Layer, L, x_shape: tuple) -> Layer:
    """``layer`` (as timed) with the geometry the contract executes on an input of ``x_shape``: the same layer,
    except for a ConvTranspose timed by its own MACs but executed as the Conv over its zero-inserted input
    (accelsim.onnx.conv_transpose), whose conv arithmetic is the lowered Conv's."""
    if layer.op != "conv2d" or tuple(layer.in_shapes[0]) == tuple(x_shape):
        return layer
    a = L.conv_attrs
    k, d = tuple(L.weight.shape[2:]), tuple(a.get("dilations", (1, 1)))
    pads = conv_pads(a, x_shape[2:], k)
    out = tuple(x_shape[2 + i] + pads[i] + pads[i + 2] - d[i] * (k[i] - 1) for i in range(2))  # stride 1
    return dataclasses.replace(layer, in_shapes=(tuple(x_shape),), out_shape=(x_shape[0], L.weight.shape[0], *out),
                               kernel=k, padding=pads, dilation=d, stride=(1, 1))
