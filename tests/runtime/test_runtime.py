"""Runtime profiles: the schema, resolution per contract, what apply() changes, and the runtime's host time."""

from __future__ import annotations

import dataclasses

import pytest

from accelsim.errors import InputError
from accelsim.hardware import load_profile
from accelsim.runtime import IDEAL, default_runtime_name, list_runtimes, load_runtime, load_runtime_file
from accelsim.runtime.loader import _builtin
from accelsim.timing.llm import model_llm
from accelsim.workload.llm import MODELS


def test_every_builtin_resolves_for_each_contract_it_names():
    for name in list_runtimes():
        if name == "ideal":
            continue
        model = _builtin(name)
        assert model.hardware, name
        for hw in model.hardware:
            load_profile(hw)   # every section names a built-in contract
            rt = model.resolve(hw)
            assert rt.sourced and rt.hardware == hw and rt.name == name
            assert model.hardware[hw].source
            for share in (rt.dram_efficiency, rt.attention_share, *dict(rt.gemm_efficiency).values()):
                assert 0 < share <= 1


def test_defaults_are_the_newest_sourced_runtime():
    assert default_runtime_name("h100-sxm") == "trtllm-1.0"
    assert default_runtime_name("h200") == "trtllm-1.0"
    assert default_runtime_name("a100-80gb") == "trtllm-0.13"
    assert default_runtime_name("xeon-amx") == "onnxruntime"
    assert default_runtime_name("tpu-v1") == "ideal"
    assert load_runtime(None, "tpu-v1") is IDEAL
    assert not load_runtime("trtllm-1.0", "b200").sourced   # no B200 section: the runtime's defaults


def test_apply_scales_bandwidth_and_the_formats_gemm_rate():
    h100 = load_profile("h100-sxm")
    rt = dataclasses.replace(IDEAL, name="t", dram_efficiency=0.5, gemm_efficiency=(("fp8", 0.25),),
                             kernel_launch_s=4e-6, cuda_graphs="decode", concurrent_layers=False)
    run = rt.apply(h100)
    assert run.dram.bandwidth_Bps == h100.dram.bandwidth_Bps * 0.5
    assert run.memory[1:] == h100.memory[1:]
    assert run.at_format("fp8").array.efficiency == pytest.approx(0.25)
    assert run.at_format("fp16").array.efficiency == pytest.approx(0.5)   # float rate only: no share stated
    assert run.kernel_launch_s == 4e-6 and run.decode_graphs and not run.concurrent_layers
    assert h100.dram.bandwidth_Bps == 3.35e12   # the contract itself is untouched
    assert dataclasses.replace(rt, cuda_graphs="all").apply(h100).kernel_launch_s == 0.0


def test_a_gemm_share_on_a_systolic_array_is_refused():
    rt = dataclasses.replace(IDEAL, name="t", gemm_efficiency=(("int8", 0.5),))
    with pytest.raises(InputError, match="systolic"):
        rt.apply(load_profile("tpu-v1"))


def test_host_time_per_step_and_per_request():
    """A step's host time is paid once per forward step, a request's set-up once before its first token."""
    h100 = load_profile("h100-sxm")
    cfg = dataclasses.replace(MODELS["llama2-7b"], vocab=0)
    base = dataclasses.replace(IDEAL, name="t")
    slow = dataclasses.replace(base, step_overhead_s=1e-3, request_overhead_s=5e-3)
    a = model_llm(h100, cfg, prompt=64, decode_steps=10, runtime=base)
    b = model_llm(h100, cfg, prompt=64, decode_steps=10, runtime=slow)
    assert b.prefill_s - a.prefill_s == pytest.approx(6e-3, abs=2 / h100.clock_hz)
    assert b.decode_s - a.decode_s == pytest.approx(10e-3, abs=20 / h100.clock_hz)
    assert b.summary()["decode_binding_resource"] in ("host", a.summary()["decode_binding_resource"])


def test_attention_share_slows_only_the_kv_reads():
    h100 = load_profile("h100-sxm")
    cfg = MODELS["llama2-7b"]
    base = dataclasses.replace(IDEAL, name="t")
    slow_attention = dataclasses.replace(base, attention_efficiency=0.5)
    a = model_llm(h100, cfg, prompt=4096, decode_steps=4, batch=8, runtime=base)
    b = model_llm(h100, cfg, prompt=4096, decode_steps=4, batch=8, runtime=slow_attention)
    assert b.decode_s > a.decode_s * 1.3        # 8 x 4k contexts: the KV reads are most of a step
    assert b.prefill_s == pytest.approx(a.prefill_s, rel=0.02)


def test_kv_reads_come_from_the_runtime():
    h100 = load_profile("h100-sxm")
    cfg = MODELS["llama2-70b"]
    gqa = model_llm(h100, cfg, prompt=2048, decode_steps=4, batch=64, runtime=dataclasses.replace(IDEAL, name="t"))
    mha = model_llm(h100, cfg, prompt=2048, decode_steps=4, batch=64,
                    runtime=dataclasses.replace(IDEAL, name="t", kv_reads="per_query_head"))
    assert mha.decode.dram_bytes > 2 * gqa.decode.dram_bytes


@pytest.mark.parametrize("text, what", [
    ("name: x\nsource: s\nbogus: 1\n", "bogus"),
    ("name: x\nsource: s\ndefaults: {dram_efficiency: 1.5}\n", "dram_efficiency"),
    ("name: x\nsource: s\ndefaults: {all_reduce: {algorithm: tree}}\n", "algorithm"),
    ("name: x\nsource: s\nhardware: {h100-sxm: {step_overhead_s: 0.001}}\n", "source"),
    ("name: x\nsource: s\ndefaults: {gemm_efficiency: {fp8: 0}}\n", "gemm_efficiency"),
    ("name: X Y\nsource: s\n", "name"),
])
def test_bad_runtime_files_are_one_line_errors(tmp_path, text, what):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as e:
        load_runtime_file(f)
    assert what in str(e.value) and "\n" not in str(e.value) and "r.yaml" in str(e.value)


def test_stack_fields_in_a_hardware_contract_point_to_the_runtime(tmp_path):
    text = (load_profile("h100-sxm").source and open(load_profile("h100-sxm").source).read())
    f = tmp_path / "h.yaml"
    f.write_text(text + "\nkernel_launch_s: 3.0e-6\n")
    from accelsim.hardware import load_profile_file

    with pytest.raises(InputError, match="runtime profile"):
        load_profile_file(f)


def test_a_user_runtime_file_applies_its_hardware_section(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\nsource: measured here\ndefaults: {dram_efficiency: 0.9}\n"
                 "hardware:\n  h100-sxm: {source: my rows, dram_efficiency: 0.7, step_overhead_s: 0.0005}\n")
    rt = load_runtime(str(f), "h100-sxm")
    assert rt.dram_efficiency == 0.7 and rt.step_overhead_s == 5e-4 and rt.sourced
    other = load_runtime(str(f), "a100-80gb")
    assert other.dram_efficiency == 0.9 and not other.sourced
