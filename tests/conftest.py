import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def write(tmp_path):
    """write('name.yaml', text) -> Path, with the text dedented."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return _write


TINY_WORKLOAD = """\
name: tiny
inputs:
  x: {shape: [8, 32]}
layers:
  - {name: fc1, op: linear, out_features: 16, activation: relu}
  - {name: fc2, op: linear, out_features: 4}
"""

TINY_PROFILE = (REPO / "hw_profiles" / "edge-npu-pot16.yaml").read_text()
