"""Regenerate tests/timing/scalesim_cycles.json: SCALE-Sim v3 compute cycles for GEMM and conv layers.

SCALE-Sim 3.0.0 needs numpy < 2, so it runs in its own virtual environment:

    python -m venv /tmp/scalesim-venv
    /tmp/scalesim-venv/bin/pip install scalesim==3.0.0 "numpy<2"
    /tmp/scalesim-venv/bin/python tests/timing/scalesim_generate.py

Configuration: SRAMs large enough and an interface bandwidth high enough that there are no memory
stalls, so "Total Cycles" is the array's compute schedule (what tests/timing/test_scalesim.py compares).
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
import time
from pathlib import Path

GEMMS = [  # (M, N, K)
    (64, 64, 64), (100, 70, 50), (33, 17, 129), (256, 128, 96), (7, 300, 40), (128, 31, 513), (1, 64, 200),
]
CONVS = [  # (ifmap h, ifmap w, filter h, filter w, channels, filters, stride)
    (14, 14, 3, 3, 16, 32, 1), (15, 15, 3, 3, 8, 20, 2), (7, 7, 1, 1, 64, 40, 1), (12, 10, 5, 3, 3, 9, 1),
    # strides that do not divide (H - R): SCALE-Sim rounds the output size up, ceil((H - R + s) / s)
    (14, 14, 3, 3, 8, 16, 2), (16, 13, 5, 5, 4, 8, 3), (9, 12, 2, 2, 5, 7, 2),
]
ARRAYS = [(32, 32), (16, 8)]
DATAFLOWS = ["os", "ws", "is"]
BIG = (512, 768, 768)  # the speed reference: one 512x768x768 GEMM on a 32x32 array

CFG = """[general]
run_name = accelsim_check

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    {sram}
FilterSramSzkB:   {sram}
OfmapSramSzkB:    {sram}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 1000
Dataflow : {df}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""


def run(kind: str, dims: tuple, rows: int, cols: int, df: str) -> tuple[int, float]:
    from scalesim.scale_sim import scalesim
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = tmp / "scale.cfg"
        cfg.write_text(CFG.format(rows=rows, cols=cols, df=df, sram=65536))
        topo = tmp / "topo.csv"
        if kind == "gemm":
            m, n, k = dims
            topo.write_text(f"Layer, M, N, K,\nl0, {m}, {n}, {k},\n")
        else:
            h, w, fh, fw, c, f, s = dims
            topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                            f"Num Filter, Strides,\nl0, {h}, {w}, {fh}, {fw}, {c}, {f}, {s},\n")
        layout = tmp / "layout.csv"  # required by the loader, unused without custom layouts
        layout.write_text("Layer name," + ",".join(f"c{i}" for i in range(19)) + ",\nl0," +
                          ",".join(["1"] * 6 + [str(i) for i in range(13)]) + ",\n")
        t0 = time.perf_counter()
        sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                       layout=str(layout), input_type_gemm=kind == "gemm")
        sim.run_scale(top_path=str(tmp / "out"))
        wall = time.perf_counter() - t0
        report = next((tmp / "out").rglob("COMPUTE_REPORT.csv"))
        with open(report) as fh_:
            rows_ = list(csv.reader(fh_))
        header = [h.strip() for h in rows_[0]]
        values = [v.strip() for v in rows_[1]]
        rec = dict(zip(header, values))
        return int(float(rec["Total Cycles"])), wall


def main() -> None:
    out = []
    for rows, cols in ARRAYS:
        for df in DATAFLOWS:
            for dims in GEMMS:
                cycles, _ = run("gemm", dims, rows, cols, df)
                out.append({"kind": "gemm", "dims": list(dims), "rows": rows, "cols": cols, "dataflow": df,
                            "cycles": cycles})
                print(out[-1], flush=True)
            for dims in CONVS:
                cycles, _ = run("conv", dims, rows, cols, df)
                out.append({"kind": "conv", "dims": list(dims), "rows": rows, "cols": cols, "dataflow": df,
                            "cycles": cycles})
                print(out[-1], flush=True)
    big_cycles, big_wall = run("gemm", BIG, 32, 32, "ws")
    doc = {"scalesim_version": "3.0.0", "cases": out,
           "big": {"dims": list(BIG), "rows": 32, "cols": 32, "dataflow": "ws", "cycles": big_cycles,
                   "wall_s": round(big_wall, 2)}}
    Path(__file__).with_name("scalesim_cycles.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
