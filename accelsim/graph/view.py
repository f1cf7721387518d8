"""A graph as accelsim executes it: producers, consumers, and its integer layers.

Integer layers are the MatMul / Gemm / Conv nodes that run on the MAC array:
- in a QDQ graph (quantize_static's format), a node whose inputs are DequantizeLinear outputs (the
  activation from a QuantizeLinear, the weight from an integer initializer, an optional int32 bias) and
  whose only consumer is a QuantizeLinear: the Q/DQ scales and zero points are the quantization intent;
- in a float graph, every MatMul / Gemm (alpha = beta = 1) / Conv not in the graph's ``float_nodes``:
  accelsim quantizes it itself, as the contract's plan says.
Everything else runs in float between them (and the report says which ops those were).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accelsim.errors import InputError
from accelsim.graph.ir import Graph

MAC_OPS = ("MatMul", "Gemm", "Conv")
#: zero-point (storage) types of integer operands (accelsim.graph.contract.type_of)
_INT_OPERAND_DTYPES = tuple(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16))


@dataclass
class QParams:
    """Scale(s) and zero point(s) of a Q/DQ pair; ``axis`` for per-axis (per-channel) params."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None
    # accelsim's own quantizer (accelsim.quant.QuantParams, float64 scale) when accelsim calibrated these
    # parameters for a float graph: its arithmetic, not the ONNX QuantizeLinear's float32, quantizes there
    quantizer: object | None = None

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass
class IntLayer:
    """One MAC node that runs as an integer layer."""

    node: object                      # the MatMul / Gemm / Conv Node
    name: str
    kind: str                         # linear | matmul | conv2d
    x_float: str                      # float tensor the quantized A operand stands for
    b_float: str | None               # matmul: float tensor of the B operand (an activation)
    weight: np.ndarray | None         # float weight (K, N) for linear; OIHW for conv (float models / dequantized)
    bias: np.ndarray | None           # float bias
    y_float: str                      # the node's (float) output tensor
    # QDQ models: the intent and where the integers live
    x_int: str | None = None
    b_int: str | None = None
    x_q: QParams | None = None
    b_q: QParams | None = None        # weight or B-activation params
    w_int: np.ndarray | None = None   # integer weight, same layout as ``weight``
    bias_int: np.ndarray | None = None
    y_q: QParams | None = None
    y_int: str | None = None          # the output QuantizeLinear's output tensor
    y_q_node: object | None = None
    conv_attrs: dict = field(default_factory=dict)
    bias_node: object | None = None   # float graphs: the Add of a constant bias fused into the layer (MatMul + Add)


class GraphView:
    """A graph with its analysis: nodes, constants, inputs/outputs, producers and consumers, integer layers.

    ``path``: the file it came from (messages name it); ``model``: the source ONNX ModelProto, if any."""

    def __init__(self, graph: Graph, path: str = "", model=None):
        from accelsim.ops import unsupported

        self.graph = graph
        self.path = path or graph.source
        self.model = model
        self.nodes = list(graph.nodes)
        missing = unsupported(self.nodes)
        if missing:
            raise InputError(f"unsupported ops: {', '.join(missing)} (accelsim runs every op of the ONNX standard "
                             f"domain; see docs/onnx.md)", source=str(self.path))
        self.constants: dict[str, np.ndarray] = dict(graph.constants)
        self.inputs = [i for i in graph.inputs if i.name not in self.constants]
        self.outputs = list(graph.outputs)
        self.producer = {o: n for n in self.nodes for o in n.outputs}
        self.consumers: dict[str, list] = {}
        for n in self.nodes:
            for i in (*n.inputs, *n.captures):
                self.consumers.setdefault(i, []).append(n)
        self.is_qdq = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in self.nodes)
        self.folded_batchnorm: list[tuple[str, str]] = []  # (BatchNormalization, Conv) pairs folded into one layer
        self._check_qparams()
        self.layers = self._find_layers()
        self._check_weights()
        self.folded_range_max: dict[str, np.float32] = {}   # filled by _find_folded_relu
        self.folded_relu = self._find_folded_relu()

    #: ops whose output is never negative, or carries its input's values (a zero point at the range's end then
    #: comes from upstream): no Relu is rebuilt after them
    _NO_FOLD = ("Relu", "Sigmoid", "Softmax", "Abs", "Exp", "Sqrt", "ReduceL2", "DequantizeLinear", "MaxPool",
                "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Concat", "Gather", "Slice",
                "Split", "Expand", "Tile", "Pad")

    def _find_folded_relu(self) -> dict[str, str]:
        """Tensors after which ``onnxruntime.quantization.quantize_static`` removed a Relu (or a Clip at 0),
        folding it into the next QuantizeLinear's range: that Q's zero point is its type's minimum (the range
        starts at 0), the tensor's only consumer is the Q, and its producer can output negatives. The QDQ graph
        stripped of Q/DQ has no Relu there any more; its float version clamps these tensors to the Q's range
        [0, top] (the activation rebuilt from the Q range: a Relu, or a Clip(0, top) whose top the calibration
        reached; without the top a folded HardSwish's x (x + 3) grows without bound through a MobileNet and its
        float version overflows). Returns {tensor: producing op type}."""
        found = {}
        for n in self.nodes:
            if n.op_type != "QuantizeLinear" or len(n.inputs) < 3 or not n.inputs[2]:
                continue
            zp = self.constants.get(n.inputs[2])
            producer = self.producer.get(n.inputs[0])
            if zp is None or producer is None or producer.op_type in self._NO_FOLD:
                continue
            if len(self.consumers.get(n.inputs[0], [])) != 1 or n.inputs[0] in self.outputs:
                continue
            zp = np.asarray(zp)
            if zp.dtype.kind in "iu" and zp.size and (zp == np.iinfo(zp.dtype).min).all():
                found[n.inputs[0]] = producer.op_type
                scale = self.constants.get(n.inputs[1])
                if scale is not None and np.size(scale) == 1:
                    # the range's top: a folded Clip(0, 6) (HardSwish, ReLU6) ends there (quantize_static calibrates
                    # the clipped tensor); for a folded Relu it is the calibrated maximum, which the QDQ model
                    # saturates at anyway
                    codes = int(np.iinfo(zp.dtype).max) - int(zp.reshape(-1)[0])
                    top = codes * float(np.asarray(scale).reshape(-1)[0])
                    self.folded_range_max[n.inputs[0]] = np.float32(top)
        return found

    def _check_qparams(self) -> None:
        """Q/DQ scales must be finite and > 0 (the ONNX spec's requirement; NaN would poison every layer)."""
        for n in self.nodes:
            if n.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(n.inputs) < 2:
                continue
            s = self.constants.get(n.inputs[1])
            if s is None:
                continue
            s = np.asarray(s, dtype=np.float64)
            bad = s[~np.isfinite(s) | (s <= 0)].reshape(-1)
            if s.size == 0 or bad.size:
                raise InputError(f"node '{n.key}' ({n.op_type}): scale '{n.inputs[1]}' must be "
                                 f"finite and > 0, got {bad[0] if bad.size else 'an empty tensor'}",
                                 source=str(self.path))

    def _check_weights(self) -> None:
        for L in self.layers:
            for what, arr in (("weight", L.weight), ("bias", L.bias)):
                if arr is not None and np.asarray(arr).dtype.kind == "f" and not np.isfinite(arr).all():
                    raise InputError(f"node '{L.name}': its {what} has NaN or infinite values", source=str(self.path))

    # -- dims -------------------------------------------------------------------------------------
    def input_dims(self) -> dict[str, list]:
        """Graph input -> list of dims (int, or the symbolic name of a dynamic dim)."""
        return {i.name: list(i.dims) for i in self.inputs}

    def input_dtype(self, name: str):
        for i in self.inputs:
            if i.name == name:
                return i.dtype
        raise KeyError(name)

    # -- integer layers ---------------------------------------------------------------------------
    def _const_params(self, dq) -> QParams | None:
        s = self.constants.get(dq.inputs[1])
        z = self.constants.get(dq.inputs[2]) if len(dq.inputs) > 2 and dq.inputs[2] else None
        if s is None or (len(dq.inputs) > 2 and dq.inputs[2] and z is None):
            return None
        if z is None:
            z = np.zeros(np.shape(s), dtype=np.uint8)
        axis = dq.attrs.get("axis", 1)
        return QParams(scale=np.asarray(s, dtype=np.float32), zero_point=np.asarray(z), axis=axis)

    def _dq_of(self, tensor: str):
        n = self.producer.get(tensor)
        return n if n is not None and n.op_type == "DequantizeLinear" else None

    def _find_layers(self) -> list[IntLayer]:
        from accelsim.ops import attrs, dequantize_linear

        layers = []
        graph_outputs = set(self.outputs)
        for n in self.nodes:
            if n.op_type not in MAC_OPS or n.key in self.graph.float_nodes:
                continue
            a = attrs(n)
            name = n.key
            if n.op_type == "Gemm" and (a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0)):
                # a float model's alpha/beta fold into its weight and bias (exact in float); transA, and any
                # such Gemm in a QDQ model, runs in float (timed as a MAC layer, listed as ran in float)
                if not self.is_qdq and not a.get("transA", 0):
                    layer = self._float_layer(n, name, a)
                    if layer is not None:
                        layer.weight = layer.weight * np.float32(a.get("alpha", 1.0))
                        if layer.bias is not None:
                            layer.bias = layer.bias * np.float32(a.get("beta", 1.0))
                        layers.append(layer)
                continue
            if self.is_qdq:
                layer = self._qdq_layer(n, name, a, graph_outputs, attrs, dequantize_linear)
            else:
                layer = self._float_layer(n, name, a)
            if layer is not None:
                layers.append(layer)
        return layers

    def _weight_layout(self, n, w: np.ndarray, a: dict) -> np.ndarray:
        if n.op_type == "Gemm" and a.get("transB", 0):
            return w.T
        return w

    def _float_layer(self, n, name, a) -> IntLayer | None:
        w = self.constants.get(n.inputs[1])
        bias = self.constants.get(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] else None
        if n.op_type == "Conv":
            if w is None or w.ndim != 4:
                return None
            layer = IntLayer(node=n, name=name, kind="conv2d", x_float=n.inputs[0], b_float=None, weight=w,
                             bias=bias, y_float=n.outputs[0], conv_attrs=a)
            return self._fold_batchnorm(layer)
        if w is not None:
            if w.ndim != 2:
                return None
            weight = self._weight_layout(n, w, a)
            y_float, bias_node = n.outputs[0], None
            if bias is None and n.op_type == "MatMul":
                bias_node = self._bias_add(n, weight.shape[1])
                if bias_node is not None:  # MatMul + Add(bias) is one linear layer, as ONNX Runtime fuses it
                    bias = self.constants[bias_node.inputs[1] if bias_node.inputs[0] == y_float
                                          else bias_node.inputs[0]]
                    y_float = bias_node.outputs[0]
            return IntLayer(node=n, name=name, kind="linear", x_float=n.inputs[0], b_float=None, weight=weight,
                            bias=None if bias is None else np.asarray(bias).reshape(-1), y_float=y_float,
                            bias_node=bias_node)
        if n.op_type == "MatMul":
            return IntLayer(node=n, name=name, kind="matmul", x_float=n.inputs[0], b_float=n.inputs[1], weight=None,
                            bias=None, y_float=n.outputs[0])
        return None

    def _fold_batchnorm(self, layer: IntLayer) -> IntLayer:
        """A Conv whose only consumer is an inference BatchNormalization with constant parameters: the BN folded
        into the conv's weight and bias, as ONNX Runtime's optimizer folds it (ConvBNFusion: w x scale /
        sqrt(var + eps) per output channel, bias (b - mean) x that + B). The float version still runs the BN as
        the model has it; the contract runs the folded conv (``folded_batchnorm`` names the pairs)."""
        y = layer.y_float
        consumers = self.consumers.get(y, [])
        if y in self.outputs or len(consumers) != 1 or consumers[0].op_type != "BatchNormalization":
            return layer
        bn = consumers[0]
        params = [self.constants.get(i) for i in bn.inputs[1:5]]
        if any(p is None for p in params) or bn.attrs.get("training_mode", 0) or len(bn.outputs) > 1:
            return layer
        scale, beta, mean, var = (np.asarray(p, dtype=np.float32) for p in params)
        k = scale / np.sqrt(var + np.float32(bn.attrs.get("epsilon", 1e-5)))
        bias = np.zeros_like(mean) if layer.bias is None else np.asarray(layer.bias, dtype=np.float32)
        layer.weight = (np.asarray(layer.weight, dtype=np.float32) * k.reshape(-1, 1, 1, 1)).astype(np.float32)
        layer.bias = ((bias - mean) * k + beta).astype(np.float32)
        layer.y_float = bn.outputs[0]
        layer.bias_node = bn
        self.folded_batchnorm.append((bn.key, layer.name))
        return layer

    def _bias_add(self, n, out_features: int):
        """The Add that adds a constant bias vector (out_features,) to a MatMul's output, when it is that output's
        only consumer and the MatMul's output is not a graph output; else None."""
        y = n.outputs[0]
        consumers = self.consumers.get(y, [])
        if y in self.outputs or len(consumers) != 1 or consumers[0].op_type != "Add":
            return None
        add = consumers[0]
        other = add.inputs[1] if add.inputs[0] == y else add.inputs[0]
        c = self.constants.get(other)
        if c is None or np.asarray(c).dtype.kind != "f" or np.asarray(c).reshape(-1).shape != (out_features,):
            return None
        if np.ndim(c) > 1 and any(d != 1 for d in np.shape(c)[:-1]):
            return None
        return add

    def _qdq_layer(self, n, name, a, graph_outputs, attrs, dequantize_linear) -> IntLayer | None:
        dq_x = self._dq_of(n.inputs[0])
        dq_b = self._dq_of(n.inputs[1])
        if dq_x is None or dq_b is None or n.outputs[0] in graph_outputs:
            return None
        consumers = self.consumers.get(n.outputs[0], [])
        if len(consumers) != 1 or consumers[0].op_type != "QuantizeLinear":
            return None
        q_y = consumers[0]
        x_q, b_q = self._const_params(dq_x), self._const_params(dq_b)
        y_q = self._const_params(q_y)
        if x_q is None or b_q is None or y_q is None or x_q.per_channel or y_q.per_channel:
            return None
        if any(np.asarray(p.zero_point).dtype not in _INT_OPERAND_DTYPES for p in (x_q, b_q, y_q)):
            return None  # e.g. int32 or float8 Q/DQ: not an integer operand the contracts model; runs in float
        x_prod = self.producer.get(dq_x.inputs[0])
        x_float = x_prod.inputs[0] if x_prod is not None and x_prod.op_type == "QuantizeLinear" else n.inputs[0]
        bias = bias_int = None
        if len(n.inputs) > 2 and n.inputs[2]:
            dq_c = self._dq_of(n.inputs[2])
            if dq_c is not None and dq_c.inputs[0] in self.constants:
                bias_int = self.constants[dq_c.inputs[0]].astype(np.int32)
                cp = self._const_params(dq_c)
                bias = dequantize_linear(bias_int, cp.scale, cp.zero_point, cp.axis or 0)
            elif n.inputs[2] in self.constants:
                bias = self.constants[n.inputs[2]]
            else:
                return None
        common = dict(node=n, name=name, x_float=x_float, y_float=n.outputs[0], x_int=dq_x.inputs[0], x_q=x_q,
                      b_q=b_q, bias=bias, bias_int=bias_int, y_q=y_q, y_int=q_y.outputs[0], y_q_node=q_y)
        w_int = self.constants.get(dq_b.inputs[0])
        if w_int is not None:  # a weight
            w_float = dequantize_linear(w_int, b_q.scale, b_q.zero_point, b_q.axis if b_q.axis is not None else 1)
            if n.op_type == "Conv":
                if w_int.ndim != 4 or (b_q.per_channel and (b_q.axis or 0) % 4 != 0):
                    return None
                return IntLayer(kind="conv2d", b_float=None, weight=w_float, w_int=w_int, conv_attrs=a, **common)
            if w_int.ndim != 2:
                return None
            # per-channel must be along the output channel: axis 1 of (K, N), axis 0 of Gemm's transposed (N, K)
            out_axis = 0 if (n.op_type == "Gemm" and a.get("transB", 0)) else 1
            if b_q.per_channel and (b_q.axis % 2) != out_axis:
                return None
            return IntLayer(kind="linear", b_float=None, weight=self._weight_layout(n, w_float, a),
                            w_int=self._weight_layout(n, w_int, a), **common)
        if n.op_type != "MatMul" or b_q.per_channel:
            return None
        b_prod = self.producer.get(dq_b.inputs[0])
        b_float = b_prod.inputs[0] if b_prod is not None and b_prod.op_type == "QuantizeLinear" else n.inputs[1]
        return IntLayer(kind="matmul", b_float=b_float, weight=None, b_int=dq_b.inputs[0], **common)
