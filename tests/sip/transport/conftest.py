"""Fixtures for the transport tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from callboard.sip.transport import ListenerConfig, TransportLayer
from tests.sip.transport.helpers import Inbox, LayerFactory, TlsFiles, make_tls_files


@pytest.fixture
async def make_layer() -> AsyncIterator[LayerFactory]:
    """Start transport layers; every one is stopped at the end of the test."""
    layers: list[TransportLayer] = []

    async def factory(
        configs: Sequence[ListenerConfig], inbox: Inbox | None = None, **kwargs: Any
    ) -> TransportLayer:
        layer = TransportLayer(inbox, **kwargs)
        await layer.start(configs)
        layers.append(layer)
        return layer

    yield factory
    for layer in layers:
        await layer.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))
