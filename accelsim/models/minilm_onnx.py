"""all-MiniLM-L6-v2 as a float ONNX model: accelsim's graph of it (accelsim.models.minilm_graph, built from the
safetensors weights without torch) exported as ONNX, for ONNX Runtime and onnxruntime.quantization.
``scripts/build_minilm_onnx.py`` exports the real thing from PyTorch instead."""

from __future__ import annotations


def minilm_onnx(model=None, opset: int = 17):
    """The float ONNX ModelProto of the bundled MiniLM (``model``: an accelsim.models.minilm.MiniLM)."""
    import dataclasses

    import numpy as np

    from accelsim.models.minilm_graph import minilm_graph
    from accelsim.onnx.export import to_onnx

    return to_onnx(dataclasses.replace(minilm_graph(model, dtype=np.float32), opset=opset))
