"""Content-Length framing, unit-tested without sockets."""

from __future__ import annotations

import pytest

from callboard.sip.transport import FramingError, FramingErrorReason, StreamFramer, is_keepalive
from tests.sip.transport.helpers import sip_message


class Collector(StreamFramer):
    def __init__(self, max_message_size: int = 4096, stop_after: int | None = None) -> None:
        super().__init__(max_message_size)
        self.frames: list[bytes] = []
        self.pings = 0
        self.stop_after = stop_after

    def _on_frame(self, message: bytes) -> None:
        self.frames.append(message)
        if self.stop_after is not None and len(self.frames) >= self.stop_after:
            self._stop_framing()

    def _on_ping(self) -> None:
        self.pings += 1

    def feed(self, data: bytes) -> None:
        self._feed(data)


def test_one_message() -> None:
    framer = Collector()
    message = sip_message(1, b"v=0\r\n")
    framer.feed(message)
    assert framer.frames == [message]
    assert framer.buffered == 0


def test_several_messages_in_one_chunk() -> None:
    framer = Collector()
    messages = [sip_message(n, b"x" * n) for n in range(5)]
    framer.feed(b"".join(messages))
    assert framer.frames == messages
    assert framer.buffered == 0


def test_byte_by_byte() -> None:
    framer = Collector()
    messages = [sip_message(1, b"hello body"), sip_message(2), sip_message(3, b"\r\n\r\n")]
    stream = b"".join(messages)
    for i in range(len(stream)):
        framer.feed(stream[i : i + 1])
    assert framer.frames == messages
    assert framer.buffered == 0


def test_every_split_point() -> None:
    messages = [sip_message(1, b"abc"), sip_message(2, b"\r\n\r\ndefg")]
    stream = b"".join(messages)
    for cut in range(1, len(stream)):
        framer = Collector()
        framer.feed(stream[:cut])
        framer.feed(stream[cut:])
        assert framer.frames == messages, cut


def test_tail_of_one_chunk_completes_with_the_next() -> None:
    framer = Collector()
    first, second = sip_message(1, b"12345"), sip_message(2, b"67890")
    framer.feed(first + second[:10])
    assert framer.frames == [first]
    assert framer.buffered == 10
    framer.feed(second[10:])
    assert framer.frames == [first, second]


@pytest.mark.parametrize(
    "header",
    [b"Content-Length: 5", b"l: 5", b"content-length:5", b"CONTENT-LENGTH \t: \t5 ", b"L:05"],
)
def test_content_length_forms(header: bytes) -> None:
    framer = Collector()
    message = b"MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n" + header + b"\r\n\r\nhello"
    framer.feed(message + message)
    assert framer.frames == [message, message]


def test_folded_content_length() -> None:
    framer = Collector()
    message = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length:\r\n  3\r\nCall-ID: x\r\n\r\nabc"
    framer.feed(message)
    assert framer.frames == [message]


def test_lookalike_headers_and_body_are_not_content_length() -> None:
    framer = Collector()
    body = b"Content-Length: 999\r\n\r\n"
    message = (
        b"MESSAGE sip:a@b SIP/2.0\r\nX-Content-Length: 77\r\nLines: 4\r\n"
        b"Subject: x\r\n l: 9\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    framer.feed(message)
    assert framer.frames == [message]


def test_missing_content_length() -> None:
    framer = Collector()
    head = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"
    with pytest.raises(FramingError) as info:
        framer.feed(head + b"more")
    assert info.value.reason is FramingErrorReason.MISSING_CONTENT_LENGTH
    assert info.value.data == head


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1 2", b"", b"12345678901", b"0x10"])
def test_bad_content_length(value: bytes) -> None:
    framer = Collector()
    with pytest.raises(FramingError) as info:
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: " + value + b"\r\n\r\n")
    assert info.value.reason is FramingErrorReason.BAD_CONTENT_LENGTH


def test_conflicting_content_lengths() -> None:
    framer = Collector()
    with pytest.raises(FramingError) as info:
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\nl: 4\r\n\r\nabcd")
    assert info.value.reason is FramingErrorReason.BAD_CONTENT_LENGTH


def test_repeated_equal_content_lengths_are_accepted() -> None:
    framer = Collector()
    message = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\nl: 2\r\n\r\nab"
    framer.feed(message)
    assert framer.frames == [message]


def test_announced_body_too_large_fails_before_it_arrives() -> None:
    framer = Collector(max_message_size=1024)
    with pytest.raises(FramingError) as info:
        framer.feed(sip_message(1)[:-4].replace(b"Content-Length: 0", b"Content-Length: 5000"))
        framer.feed(b"\r\n\r\n")
    assert info.value.reason is FramingErrorReason.TOO_LARGE


def test_endless_header_section_is_bounded() -> None:
    framer = Collector(max_message_size=1024)
    with pytest.raises(FramingError) as info:
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\n")
        for _ in range(100):
            framer.feed(b"X-Filler: " + b"y" * 50 + b"\r\n")
    assert info.value.reason is FramingErrorReason.TOO_LARGE
    assert len(info.value.data) <= 1024
    assert framer.buffered <= 1024 + 64


def test_message_of_exactly_the_limit_passes() -> None:
    head = sip_message(1)
    body_size = 1024 - len(head) - 2  # "0" becomes a 3-digit Content-Length
    message = sip_message(1, b"b" * body_size)
    assert len(message) == 1024
    framer = Collector(max_message_size=1024)
    framer.feed(message)
    assert framer.frames == [message]
    framer = Collector(max_message_size=1023)
    with pytest.raises(FramingError):
        framer.feed(message)


def test_crlf_ping_and_stray_crlfs() -> None:
    framer = Collector()
    message = sip_message(1)
    framer.feed(b"\r\n\r\n" + b"\r\n" + message + b"\r\n\r\n\r\n\r\n")
    assert framer.frames == [message]
    assert framer.pings == 3
    assert framer.buffered == 0


def test_ping_split_across_reads() -> None:
    framer = Collector()
    framer.feed(b"\r\n")
    assert framer.pings == 0
    framer.feed(b"\r")
    framer.feed(b"\n")
    assert framer.pings == 1
    framer.feed(b"\r\n")
    framer.feed(sip_message(2))
    assert framer.pings == 1
    assert framer.frames == [sip_message(2)]


def test_stop_framing_from_the_callback_delivers_nothing_more() -> None:
    framer = Collector(stop_after=1)
    framer.feed(sip_message(1) + sip_message(2))
    framer.feed(sip_message(3))
    assert framer.frames == [sip_message(1)]


def test_is_keepalive() -> None:
    assert is_keepalive(b"")
    assert is_keepalive(b"\r\n\r\n")
    assert is_keepalive(b"\n")
    assert not is_keepalive(b"\r\nOPTIONS")
