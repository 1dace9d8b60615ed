"""A SIP phone made of one socket (UDP, TCP or TLS) and hand-written messages, for the
tests that need to misbehave on purpose: ignore a request so that it is retransmitted,
send a message twice, hold back an ACK. Every message is plain text built here; received
messages are kept in order and taken by `wait()`, so nothing is lost while the test looks
elsewhere. Digest is computed here too (MD5, qop=auth), independent of Callboard's own
code, and so is the stream framing (by Content-Length).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import re
import secrets
import ssl
import time
from dataclasses import dataclass, field

from tests.support.sipp import LOCALHOST


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5


@dataclass
class Message:
    """A received message, split just enough to check it and answer it."""

    text: str
    at: float
    first_line: str = field(init=False)
    headers: list[tuple[str, str]] = field(init=False)
    body: str = field(init=False)

    def __post_init__(self) -> None:
        head, _, self.body = self.text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.first_line = lines[0]
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))

    @property
    def is_response(self) -> bool:
        return self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.first_line.split()[1]) if self.is_response else 0

    @property
    def method(self) -> str:
        if self.is_response:
            return self.get("CSeq").split()[1]
        return self.first_line.split()[0]

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def get(self, name: str) -> str:
        values = self.all(name)
        if not values:
            raise KeyError(f"no {name} in:\n{self.text}")
        return values[0]

    @property
    def branch(self) -> str:
        match = re.search(r";branch=([^;,\s]+)", self.get("Via"))
        assert match is not None
        return match.group(1)

    def response(
        self, status: int, reason: str, *, to_tag: str | None, extra: str = "", body: str = ""
    ) -> str:
        """A response to this request: Via, From, To (with `to_tag`), Call-ID, CSeq."""
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {via}" for via in self.all("Via")]
        to = self.get("To")
        if to_tag is not None and ";tag=" not in to:
            to += f";tag={to_tag}"
        lines += [f"From: {self.get('From')}", f"To: {to}"]
        lines += [f"Call-ID: {self.get('Call-ID')}", f"CSeq: {self.get('CSeq')}"]
        return "\r\n".join(lines) + "\r\n" + extra + _tail(body)


def _tail(body: str, content_type: str = "application/sdp") -> str:
    if not body:
        return "Content-Length: 0\r\n\r\n"
    data = body.encode()
    return f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n{body}"


def sdp(port: int, version: int = 1, direction: str = "sendrecv") -> str:
    return (
        f"v=0\r\no=raw 4242 {version} IN IP4 {LOCALHOST}\r\ns=-\r\n"
        f"c=IN IP4 {LOCALHOST}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
        f"a=rtpmap:0 PCMU/8000\r\na={direction}\r\n"
    )


def digest(
    challenge: str, *, method: str, uri: str, username: str, password: str, header: str
) -> str:
    """The credentials header line answering a `Digest ...` challenge (MD5, qop=auth)."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = params["realm"], params["nonce"]
    cnonce, nc = secrets.token_hex(4), "00000001"
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'{header}: Digest username="{username}", realm="{realm}", nonce="{nonce}", '
        f'uri="{uri}", response="{response}", algorithm=MD5, qop=auth, nc={nc}, '
        f'cnonce="{cnonce}"\r\n'
    )


class RawPhone:
    """What every raw phone shares: the received messages, requests built by hand, and
    registration. `await phone.open()`, `phone.close()` at the end."""

    #: The transport token of Via (and `;transport=` of the Contact, lowercased).
    transport = "UDP"

    def __init__(self, user: str, password: str, domain: str) -> None:
        self.user, self.password, self.domain = user, password, domain
        self.messages: list[Message] = []
        self.port = 0
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self._counter = itertools.count(1)
        self.tag = secrets.token_hex(4)

    def received(self, text: str) -> None:
        self.messages.append(Message(text, time.monotonic()))
        self._changed.set()

    def send(self, text: str, to: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    async def wait(self, start: str, *, within: float = 5.0, method: str | None = None) -> Message:
        """The first message not taken before whose first line starts with `start`
        (and, for responses, whose CSeq method is `method`)."""
        deadline = time.monotonic() + within
        while True:
            for index, message in enumerate(self.messages):
                if index in self._taken or not message.first_line.startswith(start):
                    continue
                if method is not None and message.method != method:
                    continue
                self._taken.add(index)
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "\n".join(f"  {m.first_line}" for m in self.messages)
                raise AssertionError(f"{self.user}: no {start!r} within {within:g} s; got:\n{seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # -- requests ------------------------------------------------------------------------

    @property
    def contact(self) -> str:
        params = "" if self.transport == "UDP" else f";transport={self.transport.lower()}"
        return f"<sip:{self.user}@{LOCALHOST}:{self.port}{params}>"

    def branch(self) -> str:
        return f"z9hG4bK-raw-{secrets.token_hex(6)}"

    def request(
        self,
        method: str,
        uri: str,
        *,
        call_id: str,
        cseq: int,
        to: str,
        branch: str | None = None,
        extra: str = "",
        body: str = "",
        from_tag: str | None = None,
    ) -> str:
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/{self.transport} {LOCALHOST}:{self.port}"
            f";branch={branch or self.branch()};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.domain}>;tag={from_tag or self.tag}",
            f"To: {to}",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method.split()[0]}",
            f"Contact: {self.contact}",
        ]
        return "\r\n".join(lines) + "\r\n" + extra + _tail(body)

    def credentials(self, challenge: Message, method: str, uri: str) -> str:
        """The header line answering `challenge` with this phone's account: Authorization
        for a 401's WWW-Authenticate, Proxy-Authorization for a 407's Proxy-Authenticate."""
        proxy = challenge.status == 407
        return digest(
            challenge.get("Proxy-Authenticate" if proxy else "WWW-Authenticate"),
            method=method,
            uri=uri,
            username=self.user,
            password=self.password,
            header="Proxy-Authorization" if proxy else "Authorization",
        )

    async def register(self, server: str) -> Message:
        """REGISTER with digest authentication; the 200."""
        call_id = f"reg-{secrets.token_hex(6)}@{LOCALHOST}"
        uri = f"sip:{self.domain}"
        aor = f"<sip:{self.user}@{self.domain}>"
        self.send(self.request("REGISTER", uri, call_id=call_id, cseq=1, to=aor), server)
        challenge = await self.wait("SIP/2.0 401", method="REGISTER")
        credentials = self.credentials(challenge, "REGISTER", uri)
        again = self.request(
            "REGISTER", uri, call_id=call_id, cseq=2, to=aor, extra=credentials + "Expires: 300\r\n"
        )
        self.send(again, server)
        return await self.wait("SIP/2.0 200", method="REGISTER")


class RawUdpPhone(RawPhone, asyncio.DatagramProtocol):
    """One UDP socket on 127.0.0.1."""

    def __init__(self, user: str, password: str, domain: str) -> None:
        super().__init__(user, password, domain)
        self._transport: asyncio.DatagramTransport | None = None

    async def open(self) -> RawUdpPhone:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(LOCALHOST, 0))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received(data.decode(errors="replace"))

    def send(self, text: str, to: str) -> None:
        assert self._transport is not None
        host, port = to.rsplit(":", 1)
        self._transport.sendto(text.encode(), (host, int(port)))


class RawStreamPhone(RawPhone):
    """One TCP connection (TLS when `tls`) to the server: everything goes over it, and the
    server sends its requests back over it (the flow the REGISTER made)."""

    def __init__(self, user: str, password: str, domain: str, *, tls: bool = False) -> None:
        super().__init__(user, password, domain)
        self.transport = "TLS" if tls else "TCP"
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    async def open(self, server: str) -> RawStreamPhone:
        host, port = server.rsplit(":", 1)
        context: ssl.SSLContext | None = None
        if self.transport == "TLS":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the test node's self-signed certificate
        reader, self._writer = await asyncio.open_connection(host, int(port), ssl=context)
        self.port = self._writer.get_extra_info("sockname")[1]
        self._reader_task = asyncio.create_task(self._read(reader))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.strip():
                    continue  # a keep-alive CRLF
                match = re.search(rb"\r\n(?:content-length|l)\s*:\s*(\d+)", head, re.IGNORECASE)
                body = await reader.readexactly(int(match.group(1))) if match else b""
                self.received((head + body).decode(errors="replace"))

    def send(self, text: str, to: str = "") -> None:
        """Over the connection, whatever `to` says."""
        assert self._writer is not None
        self._writer.write(text.encode())

    def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
        if self._writer is not None:
            self._writer.close()
