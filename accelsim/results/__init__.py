"""Result schema, DataFrame assembly and JSON/CSV I/O."""

from accelsim.results.io import atomic_write, load_results, to_csv_text, to_json_text
from accelsim.results.schema import ALL_COLUMNS, COLUMNS

__all__ = ["ALL_COLUMNS", "COLUMNS", "atomic_write", "load_results", "to_csv_text", "to_json_text"]
