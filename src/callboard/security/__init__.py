"""Secrets at rest: password and token hashing, and limits on failed authentication."""
