"""Just enough SDP (RFC 4566, RFC 3264) for a signalling-only B2BUA: what kind of media
an offer asks for, whether it puts the call on hold, and whether it changed at all."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

_DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


class MediaKind(StrEnum):
    """What a peer can talk: WebRTC (ICE, DTLS-SRTP) or plain RTP/SRTP."""

    WEBRTC = "webrtc"
    RTP = "rtp"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    kind: MediaKind
    direction: str
    origin_version: str | None
    has_audio: bool

    @property
    def holds(self) -> bool:
        """An offer that stops the media coming to its sender (RFC 3264 §8.4)."""
        return self.direction in ("sendonly", "inactive")


def inspect(body: bytes) -> SessionInfo | None:
    """Read an SDP body; None when it is not SDP."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.startswith("v="):
        return None
    webrtc = False
    has_audio = False
    session_direction = "sendrecv"
    media_direction: str | None = None
    version: str | None = None
    connection_zero = False
    in_media = False
    for line in text.splitlines():
        if line.startswith("o="):
            parts = line[2:].split()
            if len(parts) >= 3:
                version = f"{parts[1]} {parts[2]}"
        elif line.startswith("m="):
            in_media = True
            parts = line[2:].split()
            if len(parts) >= 3 and parts[0] == "audio":
                has_audio = True
                webrtc = webrtc or "SAVPF" in parts[2] or parts[2].startswith("UDP/TLS")
        elif line.startswith("a="):
            attribute = line[2:].strip()
            if attribute in _DIRECTIONS:
                if in_media:
                    media_direction = media_direction or attribute
                else:
                    session_direction = attribute
            elif attribute.startswith("fingerprint:") or attribute.startswith("ice-ufrag:"):
                webrtc = True
        elif line.startswith("c=") and line.split()[-1] in ("0.0.0.0", "::"):
            connection_zero = True
    direction = media_direction or session_direction
    if connection_zero and direction == "sendrecv" and not webrtc:
        # RFC 2543 hold; WebRTC offers use 0.0.0.0 while ICE candidates trickle in.
        direction = "sendonly"
    return SessionInfo(
        kind=MediaKind.WEBRTC if webrtc else MediaKind.RTP,
        direction=direction,
        origin_version=version,
        has_audio=has_audio,
    )


def with_direction(body: bytes, direction: str) -> bytes:
    """`body` with every stream's direction set to `direction` and the origin's version
    incremented, as a new offer built from the last description sent (RFC 3264 §8)."""
    if direction not in _DIRECTIONS:
        raise ValueError(f"not a direction: {direction}")
    lines = body.decode("utf-8").split("\r\n") if body else []
    result: list[str] = []
    in_media = False
    for line in lines:
        if line.startswith("o="):
            parts = line.split(" ")
            if len(parts) >= 3 and parts[2].isdigit():
                parts[2] = str(int(parts[2]) + 1)
            line = " ".join(parts)
        elif line[2:].strip() in _DIRECTIONS and line.startswith("a="):
            continue
        elif line.startswith("m="):
            if in_media:
                result.append(f"a={direction}")
            in_media = True
        elif line == "" and in_media:
            result.append(f"a={direction}")
            in_media = False
        result.append(line)
    if in_media:
        result.append(f"a={direction}")
    return "\r\n".join(result).encode("utf-8")


def rejecting_answer(offer: bytes) -> bytes:
    """A valid answer to `offer` that rejects every stream (RFC 3264 §6: port zero, one
    format kept). A UAC must answer an offer that came in a 2xx in its ACK, even when it
    only means to hang up at once (RFC 3261 §13.2.2.4); this is that answer. Empty when
    `offer` is not SDP (then the ACK carries no body)."""
    if inspect(offer) is None:
        return b""
    lines = ["v=0", "o=callboard 0 0 IN IP4 0.0.0.0", "s=-", "c=IN IP4 0.0.0.0", "t=0 0"]
    for line in offer.decode("utf-8").splitlines():
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) >= 4:
                lines.append(f"m={parts[0]} 0 {parts[2]} {parts[3]}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
