"""Progress on long runs (issue 27: tune and serve --slo-ttft printed nothing for minutes): on a terminal, stderr
shows what is being done — the max-rate probe and its simulated time, tune's trials — and nothing when stderr is
not a terminal. The terminal is a real pseudo-terminal: the command runs as a user's shell runs it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from tests.conftest import TINY_WORKLOAD

ACCELSIM = [sys.executable, "-m", "accelsim.cli"]


def _on_terminal(argv: list[str], cwd) -> str:
    """Everything the command writes to its terminal (stdout and stderr share it), carriage returns as lines."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on the pseudo-terminal
        os.chdir(cwd)
        os.execv(argv[0], argv)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out[-2000:]
    return out.decode(errors="replace").replace("\r", "\n")


SERVE = ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "4", "--duration", "20", "--slo-ttft", "0.5"]


def test_serve_max_rate_search_shows_its_probes_on_a_terminal(tmp_path):
    shown = _on_terminal([*ACCELSIM, *SERVE], tmp_path)
    assert "max-rate probe 1: 1 req/s" in shown
    assert "s simulated" in shown and "requests" in shown


def test_serve_is_quiet_when_stderr_is_not_a_terminal(tmp_path):
    proc = subprocess.run([*ACCELSIM, *SERVE], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]


def test_tune_shows_its_trials_on_a_terminal(tmp_path):
    pytest.importorskip("optuna")
    (tmp_path / "w.yaml").write_text(TINY_WORKLOAD)
    shown = _on_terminal([*ACCELSIM, "tune", "w.yaml", "--hw", "h100-sxm", "--trials", "3"], tmp_path)
    assert "the naive recipe" in shown and "trial 3/3" in shown
