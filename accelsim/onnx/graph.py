"""An ONNX model as accelsim sees it: nodes in order, constants, and its integer layers.

Integer layers are the MatMul / Gemm / Conv nodes that run on the MAC array:
- in a QDQ model (quantize_static's format), a node whose inputs are DequantizeLinear outputs (the
  activation from a QuantizeLinear, the weight from an integer initializer, an optional int32 bias) and
  whose only consumer is a QuantizeLinear: the Q/DQ scales and zero points are the quantization intent;
- in a float model, every MatMul / Gemm (alpha = beta = 1) / Conv: accelsim quantizes it itself.
Everything else runs in float between them (and the report says which ops those were).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accelsim.errors import InputError

MAC_OPS = ("MatMul", "Gemm", "Conv")
#: zero-point (storage) types of integer operands (accelsim.onnx.contract.type_of)
_INT_OPERAND_DTYPES = tuple(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16))


@dataclass
class QParams:
    """Scale(s) and zero point(s) of a Q/DQ pair; ``axis`` for per-axis (per-channel) params."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass
class IntLayer:
    """One MAC node that runs as an integer layer."""

    node: object                      # the MatMul / Gemm / Conv NodeProto
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


def _load(path: Path):
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise InputError(f"not a readable ONNX model ({' '.join(str(exc).split())[:160]})", source=str(path)) from None
    _check_external_data(model, path)
    try:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, str(path.parent))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read the model's external data ({' '.join(str(exc).split())[:160]})",
                         source=str(path)) from None
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"invalid ONNX model: {' '.join(str(exc).split())[:200]}", source=str(path)) from None
    return model


def _check_external_data(model, path: Path) -> None:
    """Tensors stored outside the .onnx file must be regular files beside it (a FIFO would block the read
    forever; a path leaving the model's directory is refused), and must fit in memory."""
    from onnx.external_data_helper import uses_external_data

    from accelsim.resources import require_memory

    base = path.parent.resolve()
    total = 0
    for tensor in model.graph.initializer:
        if not uses_external_data(tensor):
            continue
        info = {e.key: e.value for e in tensor.external_data}
        target = (base / info.get("location", "")).resolve()
        if base not in target.parents:
            raise InputError(f"tensor '{tensor.name}': external data '{info.get('location')}' is outside the model's "
                             f"directory", source=str(path))
        if not target.is_file():
            raise InputError(f"tensor '{tensor.name}': external data '{info.get('location')}' is not a regular file",
                             source=str(path))
        total += int(info.get("length", 0) or target.stat().st_size)
    if total:
        require_memory(3 * total, what="loading the model's external data", knob="use a smaller model",
                       source=str(path))


class OnnxGraph:
    """A loaded ONNX model: nodes, constants, graph inputs/outputs, integer layers."""

    def __init__(self, path: str | Path):
        from onnx import numpy_helper

        from accelsim.onnx.ops import OPS

        self.path = Path(path)
        if not self.path.exists():
            raise InputError("file not found", source=str(self.path))
        if not self.path.is_file():  # a FIFO would block onnx.load forever; a directory is not a model
            raise InputError("is not a regular file; expected an ONNX model", source=str(self.path))
        from accelsim.resources import require_memory

        # the protobuf, its parsed copy and the numpy constants: about three times the file
        require_memory(3 * self.path.stat().st_size, what="loading the ONNX model", knob="use a smaller model",
                       source=str(self.path))
        self.model = _load(self.path)
        g = self.model.graph
        self.nodes = list(g.node)
        unsupported = sorted({n.op_type for n in self.nodes if n.op_type not in OPS or n.domain not in ("", "ai.onnx")})
        if unsupported:
            raise InputError(f"unsupported ONNX ops: {', '.join(unsupported)} (supported: MatMul, Gemm, Conv as "
                             f"integer layers; {len(OPS) - 3} float ops, see docs/onnx.md)", source=str(self.path))
        self.constants: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        for n in self.nodes:  # Constant nodes are constants too (quantize_static emits many)
            if n.op_type == "Constant":
                from accelsim.onnx.ops import run_node
                self.constants[n.output[0]] = run_node(n, [])[0]
        self.inputs = [i for i in g.input if i.name not in self.constants]
        self.outputs = [o.name for o in g.output]
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in self.nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.is_qdq = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in self.nodes)
        self._check_qparams()
        self.layers = self._find_layers()
        self._check_weights()
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
        stripped of Q/DQ has no Relu there any more; its float version applies max(x, 0) to these tensors (the
        activation rebuilt from the Q range). Returns {tensor: producing op type}."""
        found = {}
        for n in self.nodes:
            if n.op_type != "QuantizeLinear" or len(n.input) < 3 or not n.input[2]:
                continue
            zp = self.constants.get(n.input[2])
            producer = self.producer.get(n.input[0])
            if zp is None or producer is None or producer.op_type in self._NO_FOLD:
                continue
            if len(self.consumers.get(n.input[0], [])) != 1 or n.input[0] in self.outputs:
                continue
            zp = np.asarray(zp)
            if zp.dtype.kind in "iu" and zp.size and (zp == np.iinfo(zp.dtype).min).all():
                found[n.input[0]] = producer.op_type
        return found

    def _check_qparams(self) -> None:
        """Q/DQ scales must be finite and > 0 (the ONNX spec's requirement; NaN would poison every layer)."""
        for n in self.nodes:
            if n.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(n.input) < 2:
                continue
            s = self.constants.get(n.input[1])
            if s is None:
                continue
            s = np.asarray(s, dtype=np.float64)
            bad = s[~np.isfinite(s) | (s <= 0)].reshape(-1)
            if s.size == 0 or bad.size:
                raise InputError(f"node '{n.name or n.output[0]}' ({n.op_type}): scale '{n.input[1]}' must be "
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
        out = {}
        for i in self.inputs:
            dims = [d.dim_param if d.dim_param else (d.dim_value if d.dim_value > 0 else "?")
                    for d in i.type.tensor_type.shape.dim]
            out[i.name] = dims
        return out

    def input_dtype(self, name: str):
        from accelsim.onnx.ops import _NP

        for i in self.inputs:
            if i.name == name:
                return _NP[i.type.tensor_type.elem_type]
        raise KeyError(name)

    # -- integer layers ---------------------------------------------------------------------------
    def _const_params(self, dq) -> QParams | None:
        from accelsim.onnx.ops import attrs

        s = self.constants.get(dq.input[1])
        z = self.constants.get(dq.input[2]) if len(dq.input) > 2 and dq.input[2] else None
        if s is None or (len(dq.input) > 2 and dq.input[2] and z is None):
            return None
        if z is None:
            z = np.zeros(np.shape(s), dtype=np.uint8)
        axis = attrs(dq).get("axis", 1)
        return QParams(scale=np.asarray(s, dtype=np.float32), zero_point=np.asarray(z), axis=axis)

    def _dq_of(self, tensor: str):
        n = self.producer.get(tensor)
        return n if n is not None and n.op_type == "DequantizeLinear" else None

    def _find_layers(self) -> list[IntLayer]:
        from accelsim.onnx.ops import attrs, dequantize_linear

        layers = []
        graph_outputs = set(self.outputs)
        for n in self.nodes:
            if n.op_type not in MAC_OPS:
                continue
            a = attrs(n)
            name = n.name or n.output[0]
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
        w = self.constants.get(n.input[1])
        bias = self.constants.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        if n.op_type == "Conv":
            if w is None or w.ndim != 4:
                return None
            return IntLayer(node=n, name=name, kind="conv2d", x_float=n.input[0], b_float=None, weight=w,
                            bias=bias, y_float=n.output[0], conv_attrs=a)
        if w is not None:
            if w.ndim != 2:
                return None
            return IntLayer(node=n, name=name, kind="linear", x_float=n.input[0], b_float=None,
                            weight=self._weight_layout(n, w, a), bias=bias, y_float=n.output[0])
        if n.op_type == "MatMul":
            return IntLayer(node=n, name=name, kind="matmul", x_float=n.input[0], b_float=n.input[1], weight=None,
                            bias=None, y_float=n.output[0])
        return None

    def _qdq_layer(self, n, name, a, graph_outputs, attrs, dequantize_linear) -> IntLayer | None:
        dq_x = self._dq_of(n.input[0])
        dq_b = self._dq_of(n.input[1])
        if dq_x is None or dq_b is None or n.output[0] in graph_outputs:
            return None
        consumers = self.consumers.get(n.output[0], [])
        if len(consumers) != 1 or consumers[0].op_type != "QuantizeLinear":
            return None
        q_y = consumers[0]
        x_q, b_q = self._const_params(dq_x), self._const_params(dq_b)
        y_q = self._const_params(q_y)
        if x_q is None or b_q is None or y_q is None or x_q.per_channel or y_q.per_channel:
            return None
        if any(np.asarray(p.zero_point).dtype not in _INT_OPERAND_DTYPES for p in (x_q, b_q, y_q)):
            return None  # e.g. int32 or float8 Q/DQ: not an integer operand the contracts model; runs in float
        x_prod = self.producer.get(dq_x.input[0])
        x_float = x_prod.input[0] if x_prod is not None and x_prod.op_type == "QuantizeLinear" else n.input[0]
        bias = bias_int = None
        if len(n.input) > 2 and n.input[2]:
            dq_c = self._dq_of(n.input[2])
            if dq_c is not None and dq_c.input[0] in self.constants:
                bias_int = self.constants[dq_c.input[0]].astype(np.int32)
                cp = self._const_params(dq_c)
                bias = dequantize_linear(bias_int, cp.scale, cp.zero_point, cp.axis or 0)
            elif n.input[2] in self.constants:
                bias = self.constants[n.input[2]]
            else:
                return None
        common = dict(node=n, name=name, x_float=x_float, y_float=n.output[0], x_int=dq_x.input[0], x_q=x_q,
                      b_q=b_q, bias=bias, bias_int=bias_int, y_q=y_q, y_int=q_y.output[0], y_q_node=q_y)
        w_int = self.constants.get(dq_b.input[0])
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
        b_prod = self.producer.get(dq_b.input[0])
        b_float = b_prod.input[0] if b_prod is not None and b_prod.op_type == "QuantizeLinear" else n.input[1]
        return IntLayer(kind="matmul", b_float=b_float, weight=None, b_int=dq_b.input[0], **common)
