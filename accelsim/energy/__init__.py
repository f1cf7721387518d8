"""Energy per operation (Horowitz 45 nm table, bit-width and node scaling) and per-layer breakdown."""

from accelsim.energy.horowitz import HOROWITZ_45NM_PJ, OpEnergy, node_scale, op_energy

__all__ = ["HOROWITZ_45NM_PJ", "OpEnergy", "node_scale", "op_energy"]
