"""accelsim sweep from the command line: the table, the files, the cache across runs."""

from __future__ import annotations

import pytest

pytest.importorskip("dask.distributed")
pytest.importorskip("pyarrow")

from accelsim.cli import main  # noqa: E402


def test_sweep_writes_parquet_csv_html_and_reuses_its_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("workload: mlp\nbase: edge-npu-pot16\naxes:\n  accumulator.bits: [12, 16]\n"
                                     "  memory.1.bytes: [65536, 1024]\nobjectives: [latency_s, final_sqnr_db]\n")
    assert main(["sweep", "s.yaml", "--workers", "1", "--html", "s.html"]) == 0
    out = capsys.readouterr().out
    assert "Pareto points" in out and "4 rows" in out
    import pandas as pd

    f = pd.read_parquet(tmp_path / "reports" / "sweep-s" / "sweep.parquet")
    assert len(f) == 4 and {"accumulator.bits", "memory.1.bytes", "pareto", "valid"} <= set(f.columns)
    assert (tmp_path / "reports" / "sweep-s" / "sweep.csv").is_file() and (tmp_path / "s.html").is_file()
    assert main(["sweep", "s.yaml", "--workers", "1"]) == 0
    assert "cached" in capsys.readouterr().out
