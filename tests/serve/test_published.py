"""The serving simulation against TensorRT-LLM's published static-batch throughputs (docs/validation.md).

Two settings per GPU (the GEMMs' and the HBM's sustained shares of the datasheet rates) are fitted on the GPT-J 6B
rows of TensorRT-LLM v0.6.1's table, then every LLaMA 7B row and every tensor-parallel LLaMA 70B row of the same table
is predicted with them: each within 30 % (issue 17's claim). The fit is benchmarks/validate_timing.py's own (`python benchmarks/validate_timing.py`).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import validate_timing as vt  # noqa: E402

from accelsim.hardware import load_profile  # noqa: E402
from accelsim.workload.llm import MODELS  # noqa: E402


def _cfg(model: str, fmt: str):
    bits = 16 if fmt == "fp16" else 8
    # TensorRT-LLM v0.6.1's masked MHA kernel: one thread block per query head, K/V read per query head
    return dataclasses.replace(MODELS[model], weight_bits=bits, activation_bits=bits, kv_cache_bits=bits,
                               math_format=fmt, kv_reads="per_query_head")


@pytest.mark.parametrize("gpu", sorted(vt.TRTLLM_GPTJ))
def test_llama_rows_predicted_from_gptj_within_30_percent(gpu):
    fmt, _, llama_rows = vt.TRTLLM[gpu]
    profile = load_profile(gpu)
    gemm, dram, fitted = vt._calibrate(profile, _cfg("gptj-6b", fmt), vt.TRTLLM_GPTJ[gpu])
    assert 0 < gemm <= 1 and 0 < dram <= 1
    for (*_, pub), ours in zip(vt.TRTLLM_GPTJ[gpu], fitted):
        assert abs(ours / pub - 1) <= 0.10   # the fit itself
    calibrated = profile.sustained(compute=gemm, dram=dram)
    for model, rows in (("llama2-7b", llama_rows), ("llama2-70b", vt.TRTLLM_70B[gpu])):
        predicted = vt._static_throughput(calibrated, _cfg(model, fmt), rows)
        for row, ours in zip(rows, predicted):
            assert abs(ours / row[-1] - 1) <= 0.30, (gpu, model, row, ours)


def test_gptj_shape_has_a_two_matrix_gelu_mlp():
    from accelsim.workload.llm import decoder_block

    cfg = MODELS["gptj-6b"]
    names = [layer.name for layer in decoder_block(cfg, tokens=4, context=4)]
    assert names[names.index("mlp_norm") + 1:names.index("mlp_residual")] == ["up_proj", "gelu", "down_proj"]
    # 4 x hidden^2 attention + 2 x hidden x ffn MLP, 8-bit weights: GPT-J's 201,326,592 parameters per block
    assert cfg.weight_bytes_per_block() == 4 * 4096 ** 2 + 2 * 4096 * 16384 == 201_326_592
    assert MODELS["llama2-7b"].weight_bytes_per_block() == 4 * 4096 ** 2 + 3 * 4096 * 11008
