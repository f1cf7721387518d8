"""Build single-op, fully-integer TFLite models in memory and run them with the TFLite interpreter.

The model is written straight into the TFLite flatbuffer schema (``tflite`` package: generated
builders; ``flatbuffers``), so weights, scales and zero points are exactly the ones chosen — no
TensorFlow converter in the loop. The interpreter is ``ai_edge_litert`` (LiteRT), run with the
builtin kernels and no default delegate (XNNPACK requantizes in float and is a different contract),
or with the reference kernels (``ref=True``).
"""

from __future__ import annotations

import numpy as np
import pytest

flatbuffers = pytest.importorskip("flatbuffers")
tfl = pytest.importorskip("tflite")
litert = pytest.importorskip("ai_edge_litert.interpreter")

_TYPE = {np.dtype(np.int8): tfl.TensorType.INT8, np.dtype(np.int32): tfl.TensorType.INT32,
         np.dtype(np.int16): tfl.TensorType.INT16, np.dtype(np.int64): tfl.TensorType.INT64}
_ACT = {None: tfl.ActivationFunctionType.NONE, "relu": tfl.ActivationFunctionType.RELU,
        "relu6": tfl.ActivationFunctionType.RELU6}


def _vector(b, start, values, add):
    start(b, len(values))
    for v in reversed(list(values)):
        add(v)
    return b.EndVector()


class _Model:
    def __init__(self):
        self.b = flatbuffers.Builder(1024)
        self.buffers = [b""]          # buffer 0: empty (TFLite convention)
        self.tensors = []

    def tensor(self, name, shape, dtype, scale, zero_point, data=None, quantized_dimension=0):
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data, dtype=dtype).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append((name, list(shape), np.dtype(dtype), np.atleast_1d(scale).astype(np.float32),
                             np.atleast_1d(zero_point).astype(np.int64), buf, quantized_dimension))
        return len(self.tensors) - 1

    def _quant(self, scale, zp, qdim):
        b = self.b
        s = _vector(b, lambda bb, n: tfl.QuantizationParametersStartScaleVector(bb, n), scale, b.PrependFloat32)
        z = _vector(b, lambda bb, n: tfl.QuantizationParametersStartZeroPointVector(bb, n), zp, b.PrependInt64)
        tfl.QuantizationParametersStart(b)
        tfl.QuantizationParametersAddScale(b, s)
        tfl.QuantizationParametersAddZeroPoint(b, z)
        tfl.QuantizationParametersAddQuantizedDimension(b, qdim)
        return tfl.QuantizationParametersEnd(b)

    def build(self, op, options_type, options_fn, inputs, outputs) -> bytes:
        b = self.b
        tensor_offsets = []
        for name, shape, dtype, scale, zp, buf, qdim in self.tensors:
            q = self._quant(scale, zp, qdim)
            nm = b.CreateString(name)
            sh = _vector(b, lambda bb, n: tfl.TensorStartShapeVector(bb, n), shape, b.PrependInt32)
            tfl.TensorStart(b)
            tfl.TensorAddShape(b, sh)
            tfl.TensorAddType(b, _TYPE[dtype])
            tfl.TensorAddBuffer(b, buf)
            tfl.TensorAddName(b, nm)
            tfl.TensorAddQuantization(b, q)
            tensor_offsets.append(tfl.TensorEnd(b))
        options = options_fn(b)
        ins = _vector(b, lambda bb, n: tfl.OperatorStartInputsVector(bb, n), inputs, b.PrependInt32)
        outs = _vector(b, lambda bb, n: tfl.OperatorStartOutputsVector(bb, n), outputs, b.PrependInt32)
        tfl.OperatorStart(b)
        tfl.OperatorAddOpcodeIndex(b, 0)
        tfl.OperatorAddInputs(b, ins)
        tfl.OperatorAddOutputs(b, outs)
        tfl.OperatorAddBuiltinOptionsType(b, options_type)
        tfl.OperatorAddBuiltinOptions(b, options)
        operator = tfl.OperatorEnd(b)
        tens = _vector(b, lambda bb, n: tfl.SubGraphStartTensorsVector(bb, n), tensor_offsets, b.PrependUOffsetTRelative)
        sg_in = _vector(b, lambda bb, n: tfl.SubGraphStartInputsVector(bb, n), inputs[:1], b.PrependInt32)
        sg_out = _vector(b, lambda bb, n: tfl.SubGraphStartOutputsVector(bb, n), outputs, b.PrependInt32)
        ops = _vector(b, lambda bb, n: tfl.SubGraphStartOperatorsVector(bb, n), [operator], b.PrependUOffsetTRelative)
        tfl.SubGraphStart(b)
        tfl.SubGraphAddTensors(b, tens)
        tfl.SubGraphAddInputs(b, sg_in)
        tfl.SubGraphAddOutputs(b, sg_out)
        tfl.SubGraphAddOperators(b, ops)
        subgraph = tfl.SubGraphEnd(b)
        buffer_offsets = []
        for data in self.buffers:
            if data:
                b.StartVector(1, len(data), 16)
                b.head = b.head - len(data)
                b.Bytes[b.head:b.head + len(data)] = data
                vec = b.EndVector()
                tfl.BufferStart(b)
                tfl.BufferAddData(b, vec)
            else:
                tfl.BufferStart(b)
            buffer_offsets.append(tfl.BufferEnd(b))
        tfl.OperatorCodeStart(b)
        tfl.OperatorCodeAddDeprecatedBuiltinCode(b, min(op, 127))
        tfl.OperatorCodeAddBuiltinCode(b, op)
        tfl.OperatorCodeAddVersion(b, 1)
        code = tfl.OperatorCodeEnd(b)
        codes = _vector(b, lambda bb, n: tfl.ModelStartOperatorCodesVector(bb, n), [code], b.PrependUOffsetTRelative)
        sgs = _vector(b, lambda bb, n: tfl.ModelStartSubgraphsVector(bb, n), [subgraph], b.PrependUOffsetTRelative)
        bufs = _vector(b, lambda bb, n: tfl.ModelStartBuffersVector(bb, n), buffer_offsets, b.PrependUOffsetTRelative)
        tfl.ModelStart(b)
        tfl.ModelAddVersion(b, 3)
        tfl.ModelAddOperatorCodes(b, codes)
        tfl.ModelAddSubgraphs(b, sgs)
        tfl.ModelAddBuffers(b, bufs)
        b.Finish(tfl.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _run(model: bytes, x: np.ndarray, ref: bool) -> np.ndarray:
    resolver = (litert.OpResolverType.BUILTIN_REF if ref
                else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp = litert.Interpreter(model_content=model, experimental_op_resolver_type=resolver, num_threads=1)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"]).copy()


def fully_connected(x, w_kn, bias, x_scale, x_zp, w_scale, y_scale, y_zp, *, activation=None, ref=False):
    """TFLite FULLY_CONNECTED, int8: x (M, K), weights given as (K, N) and stored as TFLite's (N, K).

    ``w_scale``: scalar or (N,) (per-channel along the output dimension); weight zero point 0.
    """
    m, k = x.shape
    n = w_kn.shape[1]
    ws = np.atleast_1d(np.asarray(w_scale, dtype=np.float32))
    mdl = _Model()
    xi = mdl.tensor("x", (m, k), np.int8, x_scale, x_zp)
    wi = mdl.tensor("w", (n, k), np.int8, ws, np.zeros(ws.size), data=np.ascontiguousarray(w_kn.T))
    inputs = [xi, wi]
    if bias is not None:
        bscale = (np.float32(x_scale) * ws).astype(np.float32)
        inputs.append(mdl.tensor("b", (n,), np.int32, bscale, np.zeros(ws.size), data=bias))
    else:
        inputs.append(-1)
    yi = mdl.tensor("y", (m, n), np.int8, y_scale, y_zp)

    def options(b):
        tfl.FullyConnectedOptionsStart(b)
        tfl.FullyConnectedOptionsAddFusedActivationFunction(b, _ACT[activation])
        return tfl.FullyConnectedOptionsEnd(b)

    model = mdl.build(tfl.BuiltinOperator.FULLY_CONNECTED, tfl.BuiltinOptions.FullyConnectedOptions, options,
                      inputs, [yi])
    return _run(model, x, ref)


def conv2d(x_nchw, w_oihw, bias, x_scale, x_zp, w_scale, y_scale, y_zp, *, stride, dilation, padding, group,
           activation=None, ref=False):
    """TFLite CONV_2D (group 1) or DEPTHWISE_CONV_2D (group == C_in == C_out), int8, in NCHW terms.

    ``padding``: 'SAME' or 'VALID' (TFLite has no explicit pads). Returns NCHW.
    """
    n, c, h, wd = x_nchw.shape
    o, ci, kh, kw = w_oihw.shape
    ws = np.atleast_1d(np.asarray(w_scale, dtype=np.float32))
    x = np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1))
    depthwise = group > 1
    if depthwise:
        assert group == c == o and ci == 1
        w = np.ascontiguousarray(w_oihw.transpose(1, 2, 3, 0))  # (1, KH, KW, C)
        qdim = 3
    else:
        assert group == 1
        w = np.ascontiguousarray(w_oihw.transpose(0, 2, 3, 1))  # OHWI
        qdim = 0

    def out_size(size, k, s, d):
        eff = (k - 1) * d + 1
        return -(-size // s) if padding == "SAME" else -(-(size - eff + 1) // s)

    oh, ow = out_size(h, kh, stride[0], dilation[0]), out_size(wd, kw, stride[1], dilation[1])
    mdl = _Model()
    xi = mdl.tensor("x", x.shape, np.int8, x_scale, x_zp)
    wi = mdl.tensor("w", w.shape, np.int8, ws, np.zeros(ws.size), data=w, quantized_dimension=qdim)
    bscale = (np.float32(x_scale) * ws).astype(np.float32)
    bi = mdl.tensor("b", (o,), np.int32, bscale, np.zeros(ws.size),
                    data=bias if bias is not None else np.zeros(o, np.int32))
    yi = mdl.tensor("y", (n, oh, ow, o), np.int8, y_scale, y_zp)
    pad = tfl.Padding.SAME if padding == "SAME" else tfl.Padding.VALID

    if depthwise:
        def options(b):
            tfl.DepthwiseConv2DOptionsStart(b)
            tfl.DepthwiseConv2DOptionsAddPadding(b, pad)
            tfl.DepthwiseConv2DOptionsAddStrideH(b, stride[0])
            tfl.DepthwiseConv2DOptionsAddStrideW(b, stride[1])
            tfl.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
            tfl.DepthwiseConv2DOptionsAddDilationHFactor(b, dilation[0])
            tfl.DepthwiseConv2DOptionsAddDilationWFactor(b, dilation[1])
            tfl.DepthwiseConv2DOptionsAddFusedActivationFunction(b, _ACT[activation])
            return tfl.DepthwiseConv2DOptionsEnd(b)
        op, opt_type = tfl.BuiltinOperator.DEPTHWISE_CONV_2D, tfl.BuiltinOptions.DepthwiseConv2DOptions
    else:
        def options(b):
            tfl.Conv2DOptionsStart(b)
            tfl.Conv2DOptionsAddPadding(b, pad)
            tfl.Conv2DOptionsAddStrideH(b, stride[0])
            tfl.Conv2DOptionsAddStrideW(b, stride[1])
            tfl.Conv2DOptionsAddDilationHFactor(b, dilation[0])
            tfl.Conv2DOptionsAddDilationWFactor(b, dilation[1])
            tfl.Conv2DOptionsAddFusedActivationFunction(b, _ACT[activation])
            return tfl.Conv2DOptionsEnd(b)
        op, opt_type = tfl.BuiltinOperator.CONV_2D, tfl.BuiltinOptions.Conv2DOptions
    model = mdl.build(op, opt_type, options, [xi, wi, bi], [yi])
    return _run(model, x, ref).transpose(0, 3, 1, 2)


def same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite SAME padding (ComputePaddingHeightWidth): (before, after) in ONNX terms."""
    eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2
