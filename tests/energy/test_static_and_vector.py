"""Energy that counts everything: static power over the latency, float vector ops by what they compute."""

from __future__ import annotations

import dataclasses

import pytest

from accelsim.energy import layer_energy, op_energy
from accelsim.energy.horowitz import vector_op_pj
from accelsim.hardware import load_profile
from accelsim.hardware.technology import HOROWITZ_45NM_PJ, node_scale, sram_pj_per_byte
from accelsim.timing import layer_timing
from accelsim.workload.layers import Layer, LayerQuant, QuantIntent

Q = LayerQuant(QuantIntent(), QuantIntent())


def _energy(profile, layer):
    t = layer_timing(layer, profile, 8, 8)
    return t, layer_energy(profile, op_energy(profile), macs=t.macs, outputs=t.outputs, is_mac=layer.is_mac,
                           psum_adds=t.psum_adds, level_bytes=t.level_bytes, op=layer.op,
                           latency_s=t.cycles / profile.clock_hz)


def test_a_stalled_layer_costs_more_static_energy():
    """The same GEMM with a 20x slower DRAM stalls: same MACs and bytes, more cycles, more static energy."""
    fast = load_profile("edge-npu-pot16")
    slow = dataclasses.replace(fast, memory=(dataclasses.replace(fast.dram, bandwidth_Bps=fast.dram.bandwidth_Bps / 20),
                                             *fast.on_chip))
    layer = Layer(name="fc", op="linear", inputs=("x",), in_shapes=((64, 1024),), out_shape=(64, 1024), quant=Q)
    t_fast, e_fast = _energy(fast, layer)
    t_slow, e_slow = _energy(slow, layer)
    assert t_slow.stall_cycles > t_fast.stall_cycles and t_slow.cycles > t_fast.cycles
    assert e_slow.mac_pj == e_fast.mac_pj
    assert e_slow.static_pj > e_fast.static_pj > 0
    assert e_slow.static_pj == pytest.approx(fast.energy.static_power_w * t_slow.cycles / fast.clock_hz * 1e12)
    assert e_fast.static_pj == pytest.approx(fast.energy.static_power_w * t_fast.cycles / fast.clock_hz * 1e12)
    # the same layer and mapping, stalled or not: the energy differs by the static share alone
    same = layer_energy(fast, op_energy(fast), macs=t_fast.macs, outputs=t_fast.outputs, is_mac=True,
                        psum_adds=t_fast.psum_adds, level_bytes=t_fast.level_bytes, op="linear",
                        latency_s=t_slow.cycles / fast.clock_hz)
    assert same.total_pj - e_fast.total_pj == pytest.approx(same.static_pj - e_fast.static_pj)


@pytest.mark.parametrize("op", ["softmax", "gelu", "layernorm", "rmsnorm", "silu"])
def test_float_vector_ops_cost_more_than_an_int_add(op):
    p = load_profile("tensorcore-int8")
    ops = op_energy(p)
    per = vector_op_pj(op, ops, p.energy.node_nm)
    # at least one fp32 multiply and add per element (the dequantize alone), far above one integer add
    assert per >= (HOROWITZ_45NM_PJ["fp32_mult"] + HOROWITZ_45NM_PJ["fp32_add"]) * node_scale(p.energy.node_nm)
    assert per > 10 * ops.add_pj
    layer = Layer(name="v", op=op, inputs=("x",), in_shapes=((128, 768),), out_shape=(128, 768), quant=Q)
    _, e = _energy(p, layer)
    assert e.requant_pj == pytest.approx(128 * 768 * per)


def test_softmax_costs_more_than_rmsnorm_than_add():
    p = load_profile("tensorcore-int8")
    ops, node = op_energy(p), p.energy.node_nm
    assert vector_op_pj("softmax", ops, node) > vector_op_pj("rmsnorm", ops, node) > vector_op_pj("add", ops, node)


def test_sram_energy_is_derived_from_size_when_omitted(tmp_path):
    from accelsim.hardware import load_profile_file
    from tests.conftest import TINY_PROFILE

    text = TINY_PROFILE.replace("    energy_pj_per_byte: 1.2   # Horowitz 45 nm 32 KB SRAM 2.5 pJ/B scaled by ~0.5 to 28 nm\n", "")
    assert text != TINY_PROFILE
    path = tmp_path / "p.yaml"
    path.write_text(text)
    p = load_profile_file(path)
    assert p.memory[1].energy_pj_per_byte == pytest.approx(sram_pj_per_byte(262144, 28.0))
