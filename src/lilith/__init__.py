"""Lilith Zero: a transparent, fail-closed security proxy for the Model Context Protocol."""

__all__ = ["__version__"]

__version__ = "0.1.0"
