"""Energy per operation (Horowitz 45 nm table, bit-width and node scaling) and per-layer breakdown."""

from accelsim.energy.horowitz import (
                                      HOROWITZ_45NM_PJ,
                                      LayerEnergy,
                                      OpEnergy,
                                      add_pj,
                                      layer_energy,
                                      mult_pj,
                                      node_scale,
                                      op_energy,
                                      sram_pj_per_byte,
)

__all__ = ["HOROWITZ_45NM_PJ", "LayerEnergy", "OpEnergy", "add_pj", "layer_energy", "mult_pj", "node_scale",
           "op_energy", "sram_pj_per_byte"]
