"""accelsim: what a quantized network computes (bit-accurately) and costs (latency, energy) on an
accelerator described by a hardware contract."""

__version__ = "0.1.0"


def load_results(path):
    """Results written by ``accelsim run`` (JSON or CSV) as a pandas DataFrame."""
    from accelsim.results.io import load_results as _load

    return _load(path)


__all__ = ["__version__", "load_results"]
