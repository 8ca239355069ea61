"""Candlelit: a local, private, terminal roleplay client."""

__version__ = "0.1.0"
