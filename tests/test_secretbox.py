"""Secrets sealed at rest open only with their key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from callboard.security.secretbox import SecretBox


def test_seal_open_and_key_file(tmp_path: Path) -> None:
    box = SecretBox.load_or_create(tmp_path / "secret.key")
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    sealed = box.seal("provider-password")
    assert "provider-password" not in sealed and sealed != box.seal("provider-password")
    assert SecretBox.load_or_create(tmp_path / "secret.key").open(sealed) == "provider-password"
    other = SecretBox.load_or_create(tmp_path / "other.key")
    with pytest.raises(ValueError, match="another key"):
        other.open(sealed)
    with pytest.raises(ValueError):
        box.open("garbage")
