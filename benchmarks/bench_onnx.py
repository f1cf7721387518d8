"""A real CNN's bit-accurate numerics against ONNX Runtime's own QDQ inference, measured in the same run.

For each real third-party model of the tests (tests/onnx/real_models.py, installed at set-up), ONNX Runtime's
own QDQ quantization (quant_pre_process + quantize_static, its defaults) is run twice on the same input:
- ONNX Runtime: ``InferenceSession.run`` of the QDQ model (default optimizations: its integer kernels fused;
  one thread), median of 10x the repeats;
- accelsim: the whole graph executed under the ``onnxruntime-cpu`` contract — every integer layer by accelsim's
  bit-accurate kernels, the glue in float32 (``accelsim.graph.execute.run_graph`` with the contract's layers),
  median of repeats after one warm-up run (Numba compiles on first use).
Target: accelsim within 10x of ONNX Runtime on each CNN (the ratio printed; OCR detector, classifier, recognizer),
at the input sizes RapidOCR feeds them: a page side scaled to a multiple of 32 (640 x 480 here), text lines
48 px high (the classifier at 48 x 192, the recognizer at 48 x 320).

    python benchmarks/bench_onnx.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET = 10.0
#: the inputs RapidOCR gives each model (its det limit side, rounded to 32; cls 48 x 192; rec 48 x width)
SIZES = {"ocr-det": (1, 3, 480, 640), "ocr-cls": (1, 3, 48, 192), "ocr-rec": (1, 3, 48, 320)}


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _contract_executors(g, hw: str):
    import dataclasses

    from accelsim.graph.contract import ContractLayer
    from accelsim.hardware import load_profile
    from accelsim.quant.legalize import QuantPlan

    profile = dataclasses.replace(load_profile(hw), qdq_s8_to_u8=True)
    executors = {}
    for L in g.layers:
        if g.graph.lowered_ops.get(L.node.key, L.node.op_type) not in profile.integer_ops:
            continue  # run in float by this contract (ONNX Runtime's ConvTranspose), as accelsim.graph.run does
        layer = ContractLayer(L, QuantPlan(layer=L.name, weights=None, activations=None), profile, {}, True,
                              folded_relu=g.folded_relu, folded_top=g.folded_range_max)
        layer.run.track = False
        executors[L.node.key] = layer
    return executors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--hw", default="onnxruntime-cpu")
    args = ap.parse_args()
    import onnxruntime as ort

    from accelsim.graph.execute import run_graph
    from accelsim.onnx.graph import OnnxGraph
    from tests.onnx.real_models import MODELS, page, quantize

    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for m in MODELS:
            if m.path is None or not m.name.startswith("ocr"):
                continue
            path = quantize(m, Path(tmp), "QDQ")
            feed = {"x": page(SIZES[m.name], 0)}
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            sess.run(None, feed)
            # ONNX Runtime's run is short and noisy: 10x the repeats (a median of many)
            t_ort = _median_time(lambda: sess.run(None, feed), 10 * args.repeats)
            g = OnnxGraph(path)
            executors = _contract_executors(g, args.hw)
            run_graph(g, feed, executors=executors)  # warm-up: Numba's compilation
            t_acc = _median_time(lambda: run_graph(g, feed, executors=executors), args.repeats)
            ratio = t_acc / t_ort
            worst = max(worst, ratio)
            shape = "x".join(str(d) for d in SIZES[m.name])
            print(f"{m.name:8s} {shape:12s} {len(g.layers):3d} integer layers   ONNX Runtime QDQ {t_ort * 1e3:8.1f} ms"
                  f"   accelsim ({args.hw}) {t_acc * 1e3:8.1f} ms   ratio {ratio:5.1f}x "
                  f"({'ok' if ratio <= TARGET else 'MISSES'} <= {TARGET:.0f}x)")
    print(f"worst ratio {worst:.1f}x (target <= {TARGET:.0f}x)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
