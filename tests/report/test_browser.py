"""The HTML report in a real browser: headless Chromium renders every plot, with no console errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from accelsim.engine import run
from accelsim.hardware import load_profile
from accelsim.loading import load_workload
from accelsim.report.html import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")

# flags: root in CI (no sandbox), no GPU, a fresh profile, nothing that reaches for the network
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--enable-logging=stderr", "--v=0"]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile_dir = tmp_path / f"chrome-profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile_dir}", *args], capture_output=True,
                          text=True, timeout=180)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    wl = load_workload("mlp")
    results = [run(wl, load_profile(p)) for p in ("tensorcore-int8", "edge-npu-pot16")]
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(results, wl, "accelsim compare mlp --hw tensorcore-int8 --hw edge-npu-pot16"))
    return path


def test_report_renders_every_plot_without_console_errors(report, tmp_path):
    proc = _chromium(tmp_path, "--virtual-time-budget=15000", "--dump-dom", report.as_uri())
    dom = proc.stdout
    root = re.search(r"<html[^>]*>", dom)
    assert root, proc.stderr[-2000:]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', root.group(0)))
    plots = int(attrs.get("data-plots", "0"))
    assert plots >= 7  # latency/energy x2, roofline x2, heatmaps x2, SQNR
    assert attrs.get("data-plots-drawn") == str(plots)
    assert dom.count("class=\"main-svg\"") >= plots
    assert "data-errors" not in attrs, attrs.get("data-errors")
    console_errors = [line for line in proc.stderr.splitlines()
                      if "CONSOLE" in line and ("Uncaught" in line or ":ERROR:" in line or "error" in line.lower())]
    assert not console_errors, console_errors[:5]


def test_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, "--virtual-time-budget=15000", "--window-size=1400,2400",
                     f"--screenshot={shot}", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
