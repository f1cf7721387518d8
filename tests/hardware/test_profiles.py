"""Hardware-profile loading: built-ins, derived figures, strict validation, YAML number forms."""

import pytest

from accelsim.errors import InputError
from accelsim.hardware import list_profiles, load_profile, load_profile_file
from tests.conftest import TINY_PROFILE

BUILTINS = ["a100-80gb", "arm-neon-sdot", "b200", "edge-npu-pot16", "ethos-u55", "h100-sxm", "h200", "mx-npu", "onnxruntime-avx2", "onnxruntime-cpu",
            "tensorcore-int8", "tflite-int8", "tpu-v1", "xeon-amx"]


def test_builtin_profiles_load():
    assert list_profiles() == BUILTINS
    for name in BUILTINS:
        p = load_profile(name)
        assert p.name == name and p.peak_macs_per_s > 0 and p.ridge_point > 0


def test_tpu_v1_derived_figures():
    p = load_profile("tpu-v1")
    assert p.peak_ops_per_s == pytest.approx(91.75e12, rel=1e-3)  # paper: 92 TOPS
    assert p.ridge_point == pytest.approx(1350, rel=0.01)  # paper: ~1350 (MACs per weight byte)
    assert p.ridge_point_ops == pytest.approx(2 * p.ridge_point)


def test_a100_peak():
    assert load_profile("tensorcore-int8").peak_ops_per_s == pytest.approx(624e12, rel=0.001)
    assert load_profile("a100-80gb").peak_ops_per_s == pytest.approx(624e12, rel=0.001)  # datasheet: 624 dense TOPS


def test_h100_peak_and_bandwidth():
    p = load_profile("h100-sxm")
    assert p.peak_ops_per_s == pytest.approx(1979e12, rel=0.001)  # datasheet: 1,979 dense INT8 TOPS
    assert p.dram.bandwidth_Bps == 3.35e12 and p.array.cores == 132


def test_yaml_11_exponent_without_sign_loads_as_number(write):
    p = load_profile_file(write("p.yaml", TINY_PROFILE.replace("clock_hz: 400e6", "clock_hz: 4e8")))
    assert p.clock_hz == 4e8
    p = load_profile_file(write("q.yaml", TINY_PROFILE.replace("clock_hz: 400e6", "clock_hz: 1.41e9")))
    assert p.clock_hz == 1.41e9


def test_string_in_number_field_is_an_error(write):
    with pytest.raises(InputError, match="clock_hz"):
        load_profile_file(write("p.yaml", TINY_PROFILE.replace("clock_hz: 400e6", "clock_hz: '400e6'")))
    with pytest.raises(InputError, match="clock_hz"):
        load_profile_file(write("p.yaml", TINY_PROFILE.replace("clock_hz: 400e6", "clock_hz: fast")))


def test_duplicate_key_is_an_error(write):
    with pytest.raises(InputError, match="duplicate key 'clock_hz'"):
        load_profile_file(write("p.yaml", TINY_PROFILE + "clock_hz: 1e9\n"))


def test_unknown_nested_key_lists_allowed(write):
    with pytest.raises(InputError) as info:
        load_profile_file(write("p.yaml", TINY_PROFILE.replace("  rows: 16", "  rowz: 16")))
    msg = str(info.value)
    assert "array.rowz" in msg and "did you mean 'rows'" in msg and "dataflow" in msg and "p.yaml:" in msg


@pytest.mark.parametrize("old,new,needle", [
    ("dataflow: weight_stationary", "dataflow: row_stationary", "array.dataflow"),
    ("overflow: saturate", "overflow: clip", "accumulator.overflow"),
    ("  spill_bits: 16", "  spill_bits: 12", "spill_bits"),
    ("clock_hz: 400e6", "clock_hz: -1", "clock_hz"),
    ("weights: [int8]", "weights: [int3]", "operands.weights"),
    ("bandwidth_Bps: 25.6e9", "bandwidth_Bps: 0", "memory[1].bandwidth_Bps"),
])
def test_invalid_values(write, old, new, needle):
    assert old in TINY_PROFILE
    with pytest.raises(InputError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        load_profile_file(write("p.yaml", TINY_PROFILE.replace(old, new)))


def test_k_chunk_follows_dataflow():
    assert load_profile("edge-npu-pot16").k_chunk(100) == 16
    assert load_profile("tpu-v1").k_chunk(1000) == 256
    assert load_profile("tensorcore-int8").k_chunk(1000) == 1000  # accumulators hold the whole K


def test_sustained_shares_scale_the_rates_and_nothing_else():
    from accelsim.hardware import load_profile

    p = load_profile("h100-sxm")
    s = p.sustained(compute=0.6, dram=0.8)
    assert s.array.efficiency == pytest.approx(0.6 * p.array.efficiency)
    assert s.dram.bandwidth_Bps == pytest.approx(0.8 * p.dram.bandwidth_Bps)
    assert [lv.bandwidth_Bps for lv in s.on_chip] == [lv.bandwidth_Bps for lv in p.on_chip]
    assert p.sustained() == p
    with pytest.raises(ValueError, match="systolic"):
        load_profile("tpu-v1").sustained(compute=0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        p.sustained(dram=1.2)
