"""Hotline: the platform behind a confidential humanitarian hotline."""

__version__ = "0.1.0"
