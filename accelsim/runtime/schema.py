"""Pydantic schema of runtime-profile YAML (hw_profiles/runtimes/): strict, unknown keys are errors.

A file holds the runtime's ``defaults`` and one section per hardware contract it is sourced for (``hardware``),
whose fields override the defaults; :meth:`RuntimeModel.resolve` gives the settings for one contract."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from accelsim.configfile import check_name
from accelsim.runtime import profile as rp

Share = Field(default=None, gt=0.0, le=1.0)
RateClass = Literal["int8", "fp16", "bf16", "fp8", "fp4", "fp32"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _seconds(limit: float):
    def check(v):
        if v is not None and (isinstance(v, bool) or not math.isfinite(v) or not 0 <= v <= limit):
            raise ValueError(f"must be a number of seconds in [0, {limit:g}]")
        return v
    return check


class AllReduceModel(_Strict):
    algorithm: Literal["auto", "one_shot", "two_shot", "ring"] | None = None
    latency_s: float | None = None
    bus_efficiency: float | None = Share

    _latency = field_validator("latency_s")(_seconds(1e-2))


class SchedulerModel(_Strict):
    batching: Literal["inflight", "static"] | None = None
    prefill: Literal["chunked", "separate"] | None = None
    max_batch: int | None = Field(default=None, gt=0, le=1 << 16)
    max_num_tokens: int | None = Field(default=None, gt=0, le=1 << 20)
    memory_fraction: float | None = Share
    kv_block_tokens: int | None = Field(default=None, gt=0, le=4096)
    memory_of: Literal["device", "free"] | None = None
    admission: Literal["max_utilization", "guaranteed"] | None = None


class SettingsModel(_Strict):
    """Every runtime setting, each optional (a hardware section overrides only what it states)."""

    gemm_efficiency: dict[RateClass, float] | None = None
    dram_efficiency: float | None = Share
    attention_efficiency: float | None = Share
    kv_reads: Literal["per_kv_head", "per_query_head"] | None = None
    kernel_launch_s: float | None = None
    cuda_graphs: Literal["none", "decode", "all"] | None = None
    concurrent_layers: StrictBool | None = None
    step_overhead_s: float | None = None
    request_overhead_s: float | None = None
    all_reduce: AllReduceModel | None = None
    scheduler: SchedulerModel | None = None
    mapping_objective: Literal["latency", "energy", "edp"] | None = None

    _launch = field_validator("kernel_launch_s")(_seconds(1e-2))
    _step = field_validator("step_overhead_s")(_seconds(1.0))
    _request = field_validator("request_overhead_s")(_seconds(10.0))

    @field_validator("gemm_efficiency")
    @classmethod
    def _gemm(cls, v):
        for key, value in (v or {}).items():
            if isinstance(value, bool) or not math.isfinite(value) or not 0 < value <= 1:
                raise ValueError(f"gemm_efficiency.{key} must be a share in (0, 1]")
        return v


class HardwareSectionModel(SettingsModel):
    """A hardware contract's section: settings plus where its numbers come from."""

    source: str = Field(min_length=1, max_length=4000)
    calibration: list[str] = Field(default_factory=list, max_length=64)


class RuntimeModel(_Strict):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    source: str = Field(min_length=1, max_length=4000)
    defaults: SettingsModel = Field(default_factory=SettingsModel)
    hardware: dict[str, HardwareSectionModel] = Field(default_factory=dict)

    _name = field_validator("name")(lambda v: check_name(v))

    def resolve(self, hardware: str | None) -> rp.RuntimeProfile:
        """The settings for contract ``hardware``: its section over the defaults over :data:`~.profile.IDEAL`'s."""
        section = self.hardware.get(hardware) if hardware is not None else None
        layers = [self.defaults] + ([section] if section is not None else [])
        merged: dict = {}
        nested = {"all_reduce": {}, "scheduler": {}}
        for layer in layers:
            for key, value in layer.model_dump(exclude_none=True).items():
                if key in nested:
                    nested[key].update(value)
                elif key not in ("source", "calibration"):
                    merged[key] = value
        base = rp.IDEAL
        return rp.RuntimeProfile(
            name=self.name, description=self.description, hardware=hardware, sourced_for=tuple(self.hardware),
            gemm_efficiency=tuple(sorted(merged.pop("gemm_efficiency", {}).items())),
            all_reduce=rp.AllReduceSpec(**{**_fields(base.all_reduce), **nested["all_reduce"]}),
            scheduler=rp.SchedulerSpec(**{**_fields(base.scheduler), **nested["scheduler"]}),
            calibration=tuple(section.calibration) if section is not None else (),
            source=self.source + (f" | {hardware}: {section.source}" if section is not None else ""),
            **merged)


def _fields(obj) -> dict:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
