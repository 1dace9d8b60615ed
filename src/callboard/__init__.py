"""Callboard: a self-hosted telephony platform for web applications."""

__version__ = "0.1.0"
