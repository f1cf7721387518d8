"""Energy per op: exactly the Horowitz (ISSCC 2014) 45 nm table at its widths; stated scaling elsewhere."""

import pytest

from accelsim.energy import HOROWITZ_45NM_PJ, add_pj, layer_energy, mult_pj, node_scale, op_energy, sram_pj_per_byte
from accelsim.hardware import load_profile
from accelsim.loading import load_workload
from accelsim.timing import layer_timing


def test_45nm_equals_the_table():
    assert mult_pj(8, 8) == HOROWITZ_45NM_PJ["int8_mult"] == 0.2
    assert mult_pj(32, 32) == HOROWITZ_45NM_PJ["int32_mult"] == 3.1
    assert add_pj(8) == HOROWITZ_45NM_PJ["int8_add"] == 0.03
    assert add_pj(32) == HOROWITZ_45NM_PJ["int32_add"] == 0.1
    assert sram_pj_per_byte(8 * 1024) == pytest.approx(10.0 / 8)
    assert sram_pj_per_byte(32 * 1024) == pytest.approx(20.0 / 8)
    assert sram_pj_per_byte(1024 * 1024) == pytest.approx(100.0 / 8)


def test_width_and_node_scaling_properties():
    """What the scaling claims, not its formula: monotone in width and node, between the table's anchors,
    and the node factors docs/timing.md quotes from Stillmaker & Baas (2017) within 10 %."""
    widths = [2, 4, 8, 12, 16, 24, 32]
    mults = [mult_pj(w, w) for w in widths]
    adds = [add_pj(w) for w in widths]
    assert mults == sorted(mults) and len(set(mults)) == len(mults)
    assert adds == sorted(adds) and len(set(adds)) == len(adds)
    assert HOROWITZ_45NM_PJ["int8_mult"] < mult_pj(16, 16) < HOROWITZ_45NM_PJ["int32_mult"]
    assert HOROWITZ_45NM_PJ["int8_add"] < add_pj(16) < HOROWITZ_45NM_PJ["int32_add"]
    assert mult_pj(4, 8) < mult_pj(8, 8) and mult_pj(4, 8) == mult_pj(8, 4)
    nodes = [3, 5, 7, 16, 28, 45, 65, 90]
    factors = [node_scale(n) for n in nodes]
    assert factors == sorted(factors) and node_scale(45) == 1.0
    for node, quoted in ((28, 0.6), (16, 0.32), (7, 0.13)):
        assert node_scale(node) == pytest.approx(quoted, rel=0.1)
    assert mult_pj(8, 8, 7) < mult_pj(8, 8, 16) < mult_pj(8, 8)


def test_profile_overrides_win(write):
    from tests.conftest import TINY_PROFILE
    text = TINY_PROFILE.replace("energy:\n", "energy:\n  overrides: {mac_pj: 0.5}\n") if "energy:\n" in TINY_PROFILE \
        else TINY_PROFILE + "energy:\n  node_nm: 45\n  overrides: {mac_pj: 0.5}\n"
    p = load_profile(write("p.yaml", text))
    assert op_energy(p).mac_pj == 0.5


def test_layer_breakdown_adds_up():
    p = load_profile("tensorcore-int8")
    layer = load_workload("mlp").layers[0]
    t = layer_timing(layer, p, 8, 8)
    ops = op_energy(p, 8, 8)
    e = layer_energy(p, ops, macs=t.macs, outputs=t.outputs, is_mac=True, psum_adds=t.psum_adds,
                     level_bytes=t.level_bytes)
    assert e.mac_pj == pytest.approx(t.macs * ops.mac_pj)
    assert e.dram_pj == pytest.approx(t.dram_bytes * p.dram.energy_pj_per_byte)
    assert e.total_pj == pytest.approx(e.mac_pj + e.requant_pj + e.sram_pj + e.dram_pj)
    assert e.sram_pj > 0
