"""Reports: terminal tables (rich); HTML comes with the compare issue."""
