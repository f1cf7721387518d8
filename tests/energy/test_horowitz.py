"""Energy per op: exactly the Horowitz (ISSCC 2014) 45 nm table at its widths; stated scaling elsewhere."""

import pytest

from accelsim.energy import HOROWITZ_45NM_PJ, add_pj, layer_energy, mult_pj, node_scale, op_energy, sram_pj_per_byte
from accelsim.hardware import load_profile
from accelsim.timing import layer_timing
from accelsim.loading import load_workload


def test_45nm_equals_the_table():
    assert mult_pj(8, 8) == HOROWITZ_45NM_PJ["int8_mult"] == 0.2
    assert mult_pj(32, 32) == HOROWITZ_45NM_PJ["int32_mult"] == 3.1
    assert add_pj(8) == HOROWITZ_45NM_PJ["int8_add"] == 0.03
    assert add_pj(32) == HOROWITZ_45NM_PJ["int32_add"] == 0.1
    assert sram_pj_per_byte(8 * 1024) == pytest.approx(10.0 / 8)
    assert sram_pj_per_byte(32 * 1024) == pytest.approx(20.0 / 8)
    assert sram_pj_per_byte(1024 * 1024) == pytest.approx(100.0 / 8)


def test_width_and_node_scaling():
    assert mult_pj(4, 8) == pytest.approx(0.1)          # half the partial products of 8x8
    assert mult_pj(16, 16) == pytest.approx(0.8)        # 4x the partial products of 8x8
    assert add_pj(16) == pytest.approx(0.03 + 0.07 / 3)  # linear between the 8- and 32-bit entries
    assert node_scale(45) == 1.0
    assert node_scale(7) == pytest.approx((7 / 45) ** 1.1)
    assert mult_pj(8, 8, 7) == pytest.approx(0.2 * (7 / 45) ** 1.1)


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
