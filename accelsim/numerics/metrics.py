"""Error of a quantized result against a float reference."""

from __future__ import annotations

import math

import numpy as np


def error_metrics(approx: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """SQNR (dB), max |error|, mean error (bias) and cosine similarity of ``approx`` vs ``reference``.

    SQNR = 10 log10(sum ref^2 / sum (approx - ref)^2); +inf when the error is exactly zero.
    """
    a = np.asarray(approx, dtype=np.float64).ravel()
    r = np.asarray(reference, dtype=np.float64).ravel()
    err = a - r
    signal = float(np.dot(r, r))
    noise = float(np.dot(err, err))
    if noise == 0.0:
        sqnr = math.inf
    elif signal == 0.0:
        sqnr = -math.inf
    else:
        sqnr = 10.0 * math.log10(signal / noise)
    na, nr = float(np.linalg.norm(a)), float(np.linalg.norm(r))
    cosine = float(np.dot(a, r) / (na * nr)) if na > 0 and nr > 0 else (1.0 if na == nr else 0.0)
    return {"sqnr_db": sqnr, "max_abs_error": float(np.abs(err).max(initial=0.0)),
            "mean_error": float(err.mean()) if err.size else 0.0, "cosine": cosine}


class ErrorAccumulator:
    """:func:`error_metrics` over several (approx, reference) pieces without keeping them: running sums of the
    signal, noise, cross and norm terms (equal to the metrics of the concatenation up to summation order)."""

    def __init__(self):
        self.signal = self.noise = self.cross = self.approx_sq = self.err_sum = self.max_abs = 0.0
        self.count = 0

    def add(self, approx: np.ndarray, reference: np.ndarray) -> None:
        a = np.asarray(approx, dtype=np.float64).ravel()
        r = np.asarray(reference, dtype=np.float64).ravel()
        err = a - r
        self.signal += float(np.dot(r, r))
        self.noise += float(np.dot(err, err))
        self.cross += float(np.dot(a, r))
        self.approx_sq += float(np.dot(a, a))
        self.err_sum += float(err.sum())
        self.max_abs = max(self.max_abs, float(np.abs(err).max(initial=0.0)))
        self.count += err.size

    def __bool__(self) -> bool:
        return self.count > 0

    def metrics(self) -> dict[str, float]:
        if self.noise == 0.0:
            sqnr = math.inf
        elif self.signal == 0.0:
            sqnr = -math.inf
        else:
            sqnr = 10.0 * math.log10(self.signal / self.noise)
        na, nr = math.sqrt(self.approx_sq), math.sqrt(self.signal)
        cosine = self.cross / (na * nr) if na > 0 and nr > 0 else (1.0 if na == nr else 0.0)
        return {"sqnr_db": sqnr, "max_abs_error": self.max_abs,
                "mean_error": self.err_sum / self.count if self.count else 0.0, "cosine": cosine}
