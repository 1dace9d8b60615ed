"""Compatibility surfaces: other vendors' client protocols over Callboard's events."""
