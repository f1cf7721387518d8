"""MiniLM as an accelsim workload: its graph (built from the weights), its sentences as records, its layers.

The numerics are the graph path's (accelsim.graph.run), as for any ONNX model: every linear layer (MatMul with
its bias Add) runs bit-accurately under the contract, calibrated on the calibration sentences; the attention
score/context matmuls, softmax, LayerNorm (with the residual adds) and GELU stay float (the model's choice,
stated in results); accuracy is measured on the evaluation sentences: per-layer SQNR and the cosine similarity
of each sentence embedding (mean-pooled final hidden states) to the float model's.
"""

from __future__ import annotations

import numpy as np

from accelsim.graph.workload import graph_workload
from accelsim.models.minilm import load_minilm
from accelsim.models.minilm_graph import minilm_graph
from accelsim.workload.layers import LayerQuant

#: what stays float in this model by its own choice, as the report states
FLOAT_PARTS = "attention score/context matmuls, softmax, LayerNorm (with residual adds), GELU, embeddings"
METRIC = "sentence-embedding cosine similarity to float (mean-pooled final hidden states)"


def sentence_records(model, sentences, max_tokens: int) -> tuple[dict, ...]:
    """One record per sentence: its token ids and token type ids (one segment), batch 1."""
    out = []
    for s in sentences:
        ids = model.tokenize(s, max_tokens)[None]
        out.append({"input_ids": ids, "token_type_ids": np.zeros_like(ids)})
    return tuple(out)


def minilm_workload(section, quant: LayerQuant, name: str, description: str, source: str):
    """The Workload of a YAML ``model:`` section (all-MiniLM-L6-v2): the graph built from its weights, the
    sentences as records, the layers at ``seq_len`` tokens for the timing model."""
    from accelsim.workload.workload import ModelSpec

    model = load_minilm()
    timing_ids = np.full((1, section.seq_len), 1000, dtype=np.int64)
    model_spec = ModelSpec(name=section.name, seq_len=section.seq_len, max_tokens=section.max_tokens,
                           sentences=tuple(section.sentences), calibration=tuple(section.calibration))
    return graph_workload(minilm_graph(model), calibration=sentence_records(model, section.calibration,
                                                                           section.max_tokens),
                          evaluation=sentence_records(model, section.sentences, section.max_tokens),
                          timing_feed={"input_ids": timing_ids, "token_type_ids": np.zeros_like(timing_ids)},
                          quant=quant, name=name, description=description, source=source, metric=METRIC,
                          float_parts=FLOAT_PARTS, dims=(("seq", section.seq_len),), extra={"model": model_spec})
