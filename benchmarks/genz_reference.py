"""Regenerate benchmarks/genz_reference.json: GenZ's roofline figures for Llama-2-7B prefill and decode.

GenZ (genz-llm on PyPI, Bambhaniya et al., "Demystifying Platform Requirements for Diverse LLM Inference
Use Cases", 2024) runs in its own virtual environment; accelsim never imports it:

    python -m venv /tmp/genz-venv && /tmp/genz-venv/bin/pip install genz-llm
    /tmp/genz-venv/bin/python benchmarks/genz_reference.py

Settings, equal to accelsim's profiles: the dense peak (GenZ's `Flops` is the bf16 figure in decimal TFLOPS;
`bits="int8"` runs at twice it) and the HBM bandwidth of a100-80gb and h100-sxm, given in GenZ's own unit: its
`Memory_BW` is read in GiB/s (GenZ/unit.py: bandwidths and memory sizes scale by binary prefixes, compute by
decimal ones), so the datasheet's decimal B/s are divided by 2^30; efficiency 1 (GenZ's default: no derating),
batch 1, W8A8 with an 8-bit KV cache. GenZ keeps intermediate activations on chip in prefill and models the
input embedding and the classifier as GEMMs over every prompt token.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

GIB = 2 ** 30
SYSTEMS = {  # accelsim profile -> GenZ system: bf16 dense TFLOPS (int8 = 2x), HBM GiB/s, memory GiB, link GiB/s
    "a100-80gb": {"Flops": 312, "Memory_BW": 2.039e12 / GIB, "Memory_size": 80, "ICN": 300e9 / GIB,
                  "real_values": True},
    "h100-sxm": {"Flops": 989.5, "Memory_BW": 3.35e12 / GIB, "Memory_size": 80, "ICN": 450e9 / GIB,
                 "real_values": True},
}
PREFILL_TOKENS = (128, 512, 2048)
DECODE_CONTEXT = 2048


def main() -> int:
    warnings.filterwarnings("ignore")
    from importlib.metadata import version

    from GenZ import decode_moddeling, prefill_moddeling

    out = {"genz_version": version("genz-llm"), "model": "llama2_7b", "bits": "int8",
           "batch": 1, "systems": SYSTEMS, "prefill_ms": {}, "decode_ms_per_token": {}}
    for name, system in SYSTEMS.items():
        out["prefill_ms"][name] = {}
        for tokens in PREFILL_TOKENS:
            r = prefill_moddeling(model="llama2_7b", batch_size=1, input_tokens=tokens, system_name=system,
                                  bits="int8")
            out["prefill_ms"][name][str(tokens)] = float(r["Latency"])
        r = decode_moddeling(model="llama2_7b", batch_size=1, input_tokens=DECODE_CONTEXT, output_tokens=1,
                             system_name=system, bits="int8")
        out["decode_ms_per_token"][name] = float(r["Latency"])
        print(name, out["prefill_ms"][name], out["decode_ms_per_token"][name], flush=True)
    Path(__file__).with_name("genz_reference.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
