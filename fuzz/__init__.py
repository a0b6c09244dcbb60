"""Fuzz targets shared by the atheris harness (``make fuzz``) and the hypothesis properties in the suite."""
