"""Quantizers, calibration, and legalization of a workload's intent to a hardware contract."""

from accelsim.quant.legalize import LegalizedWorkload, OperandPlan, QuantPlan, legalize
from accelsim.quant.quantizers import QuantParams, calibrate_range, params_from_range

__all__ = ["LegalizedWorkload", "OperandPlan", "QuantParams", "QuantPlan", "calibrate_range", "legalize",
           "params_from_range"]
