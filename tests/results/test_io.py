

def test_load_results_reads_regular_files_only(tmp_path):
    """issue 27: every file accelsim reads is checked like its inputs (a FIFO would block, a binary CSV traced)."""
    import os

    import pytest

    from accelsim.errors import InputError
    from accelsim.results.io import load_results

    os.mkfifo(tmp_path / "r.json")
    with pytest.raises(InputError, match="not a regular file"):
        load_results(tmp_path / "r.json")
    (tmp_path / "r.csv").write_bytes(b"\x80\x81\xff,\x00\n")
    with pytest.raises(InputError, match="r.csv"):
        load_results(tmp_path / "r.csv")
    with pytest.raises(InputError, match="expected a .json or .csv"):
        load_results(tmp_path / "r.txt")
