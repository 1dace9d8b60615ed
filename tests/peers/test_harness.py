"""Self-tests of the real-peer harness, before Callboard's SIP server exists.

The scenarios Callboard's SIP tests will run through the B2BUA are proven here peer to
peer: each SIPp UAC scenario against the SIPp UAS scenario that plays the far end (or the
server's part where the B2BUA would act alone: ring timeout, REFER). REGISTER scenarios
run against a tiny digest registrar below (UDP and TCP), which also checks that the
digest uri is the Request-URI. The baresip softphone calls a SIPp UAS and is called by a
SIPp UAC, with registration, DTMF, hold and hangup.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.sipp import (
    SCENARIO_DIR,
    Sipp,
    SippFailed,
    SippUnavailable,
    Transport,
    free_port,
    run_scenario,
    sipp_has_tls,
)
from tests.support.softphone import Softphone, SoftphoneError, self_signed_pem


@pytest.fixture
async def sipp(tmp_path: Path) -> AsyncIterator[Sipp]:
    async with Sipp(tmp_path / "sipp") as runner:
        yield runner


# --------------------------------------------------------------------------- a registrar


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5


class TinyRegistrar:
    """REGISTER only, over UDP and TCP: 401 with a digest challenge (qop=auth), then 200
    if the response matches `password` and its uri is the Request-URI, else 403. It keeps
    the last TCP connection a REGISTER came on (`flow`), and queues the responses that
    arrive there, so a test can send requests down it as a server would."""

    def __init__(self, password: str, realm: str = "callboard.test") -> None:
        self.password, self.realm, self.nonce = password, realm, secrets.token_hex(8)
        self.bindings: dict[str, str] = {}
        self.flow: asyncio.StreamWriter | None = None
        self.responses: asyncio.Queue[bytes] = asyncio.Queue()

    def answer(self, data: bytes) -> bytes:
        lines = data.decode().split("\r\n\r\n")[0].split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        copied = "".join(
            f"{h}: {headers[h.lower()]}\r\n" for h in ("Via", "From", "Call-ID", "CSeq")
        )
        extra, status = f"To: {headers['to']};tag=tiny\r\n", "403 Forbidden"
        if "authorization" not in headers:
            status = "401 Unauthorized"
            challenge = f'realm="{self.realm}", nonce="{self.nonce}", qop="auth"'
            extra += f"WWW-Authenticate: Digest {challenge}\r\n"
        else:
            p = dict(re.findall(r'(\w+)="?([^",]+)"?', headers["authorization"]))
            ha1 = _md5(f"{p['username']}:{self.realm}:{self.password}")
            ha2 = _md5(f"REGISTER:{p['uri']}")
            want = _md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")
            if p["response"] == want and p["uri"] == lines[0].split()[1]:
                status = "200 OK"
                self.bindings[p["username"]] = headers["contact"]
                extra += f"Contact: {headers['contact']};expires={headers.get('expires', 3600)}\r\n"
        return f"SIP/2.0 {status}\r\n{copied}{extra}Content-Length: 0\r\n\r\n".encode()


@contextlib.asynccontextmanager
async def tiny_registrar(password: str) -> AsyncIterator[tuple[str, TinyRegistrar]]:
    registrar, port = TinyRegistrar(password), free_port()

    class Udp(asyncio.DatagramProtocol):
        transport: asyncio.DatagramTransport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(registrar.answer(data), addr)

    async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"\r\nContent-Length: *(\d+)", head, re.IGNORECASE)
                body = await reader.readexactly(int(length.group(1))) if length else b""
                if head.startswith(b"SIP/2.0 "):
                    registrar.responses.put_nowait(head + body)
                else:
                    registrar.flow = writer
                    writer.write(registrar.answer(head))
        writer.close()

    loop = asyncio.get_running_loop()
    udp, protocol = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", port))
    protocol.transport = udp
    tcp_server = await asyncio.start_server(tcp, "127.0.0.1", port)
    try:
        yield f"127.0.0.1:{port}", registrar
    finally:
        udp.close()
        tcp_server.close()


# --------------------------------------------------------------------------- SIPp basics


@pytest.mark.parametrize("scenario", sorted(p.name for p in SCENARIO_DIR.glob("*.xml")))
async def test_scenario_loads(sipp: Sipp, scenario: str) -> None:
    """SIPp 3.6.1 accepts the file: it parsed it (keys included) and bound its socket."""
    uac = not scenario.startswith("uas_") or scenario == "uas_register_then_answer.xml"
    target = f"127.0.0.1:{free_port()}" if uac else None
    process = await sipp.start(
        scenario, target, recv_timeout_ms=200, timeout_s=5, wait_listening=True
    )
    result = await process.stop()
    assert result.exit_code in (0, 1, 97, 99), result.report()  # not 255 (fatal) nor 254


async def test_missing_sipp_fails_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SippUnavailable, match="install-test-deps"):
        Sipp(tmp_path)


async def test_failure_report_shows_the_conversation(sipp: Sipp) -> None:
    """A call answered 486 where a 200 was expected: not ok, and the report has the SIP."""
    uas = await sipp.start("uas_busy.xml", calls=1)
    result = await sipp.run("uac_call.xml", uas.address, service="bob", recv_timeout_ms=3000)
    assert not result.ok
    assert result.exit_code == 1 and result.failed == 1
    with pytest.raises(SippFailed) as failure:
        result.check()
    assert "SIP/2.0 486 Busy Here" in str(failure.value)
    assert "INVITE sip:bob@" in str(failure.value)
    (await uas.wait(within=10)).check(calls=1)


# --------------------------------------------------------------------------- calls, peer to peer


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_call_answered(sipp: Sipp, transport: Transport) -> None:
    bob = sipp.agent("bob", transport=transport)
    uas = await bob.answer_calls(calls=2)
    alice = sipp.agent("alice", transport=transport)
    result = await alice.call(uas.address, "bob", calls=2, duration_ms=200)
    assert result.successful == 2
    (await uas.wait(within=10)).check(calls=2)
    assert f"Contact: <sip:bob@127.0.0.1:{uas.local_port};transport={transport}>" in (
        result.messages
    )


async def test_tls_needs_a_sipp_built_with_openssl(sipp: Sipp) -> None:
    """Debian's SIPp has no TLS: asking for it fails loudly, naming the way out. With a
    TLS-enabled build the same call is made (self-signed certificate from openssl)."""
    if not sipp_has_tls():
        with pytest.raises(SippUnavailable, match="without TLS"):
            await sipp.start("uas_answer.xml", transport="tls")
        return
    uas = await sipp.start("uas_answer.xml", service="bob", transport="tls")
    await sipp.run("uac_call.xml", uas.address, service="bob", transport="tls", check=True)
    (await uas.wait(within=10)).check(calls=1)


async def test_busy(sipp: Sipp) -> None:
    uas = await sipp.start("uas_busy.xml", service="bob")
    (await sipp.run("uac_busy.xml", uas.address, service="bob")).check(calls=1)
    (await uas.wait(within=10)).check(calls=1)


async def test_cancel_while_ringing(sipp: Sipp) -> None:
    uas = await sipp.start("uas_noanswer.xml", service="bob", transport="tcp")
    result = await sipp.run(
        "uac_cancel.xml", uas.address, service="bob", transport="tcp", duration_ms=300
    )
    result.check(calls=1)
    assert "SIP/2.0 487 Request Terminated" in result.messages
    (await uas.wait(within=10)).check(calls=1)


async def test_no_answer(sipp: Sipp) -> None:
    """uas_ring_timeout.xml plays the B2BUA's ring timeout: 180, then 480."""
    uas = await sipp.start("uas_ring_timeout.xml", service="bob", duration_ms=500)
    (await sipp.run("uac_noanswer.xml", uas.address, service="bob")).check(calls=1)
    (await uas.wait(within=10)).check(calls=1)


async def test_hold_and_resume(sipp: Sipp) -> None:
    uas = await sipp.start("uas_answer.xml", service="bob")
    result = await sipp.run("uac_hold.xml", uas.address, service="bob", duration_ms=100)
    result.check(calls=1)
    uas_result = (await uas.wait(within=10)).check(calls=1)
    assert uas_result.messages.count("a=sendonly") == 1  # the hold offer it received
    assert result.messages.count("a=recvonly") == 1  # the answer we received


async def test_callee_hangs_up(sipp: Sipp) -> None:
    uas = await sipp.start("uas_hangup.xml", service="bob", duration_ms=300, transport="tcp")
    result = await sipp.run("uac_bye_from_callee.xml", uas.address, service="bob",
                            transport="tcp")  # fmt: skip
    result.check(calls=1)
    (await uas.wait(within=10)).check(calls=1)


@pytest.mark.parametrize("who_hangs_up", ["server", "transferor"])
async def test_blind_transfer(sipp: Sipp, who_hangs_up: str) -> None:
    """uas_refer.xml plays the B2BUA: 202, NOTIFY 100, NOTIFY 200. It then sends BYE
    itself if the transferor has not within its -recv_timeout (1 s, well before the
    transferor's own 2 s), or waits for the transferor's BYE (5 s)."""
    wait_ms = 1000 if who_hangs_up == "server" else 5000
    uas = await sipp.start("uas_refer.xml", service="bob", recv_timeout_ms=wait_ms)
    result = await sipp.run(
        "uac_refer.xml",
        uas.address,
        service="bob",
        duration_ms=100,
        keys={"refer_to": "sip:carol@callboard.test"},
    )
    result.check(calls=1)
    assert "Refer-To: <sip:carol@callboard.test>" in result.messages
    assert result.log.count("transfer progress") == 2  # 100, then 200
    bye_sent = "BYE sip:bob@" in result.messages
    assert bye_sent == (who_hangs_up == "transferor")
    (await uas.wait(within=15)).check(calls=1)


# --------------------------------------------------------------------------- registration


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_and_unregister(sipp: Sipp, transport: Transport) -> None:
    async with tiny_registrar("s3cret") as (server, registrar):
        alice = sipp.agent("alice", "s3cret", domain="callboard.test", transport=transport)
        result = await alice.register(server)
        assert "SIP/2.0 401 Unauthorized" in result.messages
        assert 'uri="sip:callboard.test"' in result.messages
        assert registrar.bindings["alice"] == f"<{alice.contact}>"
        await alice.unregister(server)


async def test_register_wrong_password_is_refused(sipp: Sipp) -> None:
    async with tiny_registrar("s3cret") as (server, _):
        mallory = sipp.agent("alice", "wrong", domain="callboard.test")
        result = await mallory.register(server, scenario="register_wrong_password.xml")
        assert "SIP/2.0 403 Forbidden" in result.messages
        # ...and register.xml with that password fails, with the reason in the report.
        refused = await mallory.register(server, check=False)
        assert not refused.ok and "403 Forbidden" in refused.report()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_registered_agent_answers_on_its_socket(sipp: Sipp, transport: Transport) -> None:
    """The B2BUA path without the B2BUA: bob registers (one SIPp, -oocsf answers), then
    INVITEs reach the Contact he registered, as the server would send them."""
    async with tiny_registrar("pw") as (server, registrar):
        bob = sipp.agent("bob", "pw", domain="callboard.test", transport=transport)
        uas = await bob.answer_calls(server=server)
        assert registrar.bindings["bob"] == f"<{bob.contact}>"
        alice = sipp.agent("alice", transport=transport)
        await alice.call(f"127.0.0.1:{bob.local_port}", "bob", calls=2, duration_ms=100)
        await uas.wait_calls(2)
        result = (await uas.stop()).check(calls=2)
        assert result.registered


async def test_registered_agent_takes_calls_on_its_registration_connection(sipp: Sipp) -> None:
    """Over TCP a server sends the INVITE down the connection the REGISTER came on (as
    Callboard will, RFC 5626 style); the out-of-call scenario answers on it."""
    async with tiny_registrar("pw") as (server, registrar):
        bob = sipp.agent("bob", "pw", domain="callboard.test", transport="tcp")
        uas = await bob.answer_calls(server=server)
        flow = registrar.flow
        assert flow is not None

        def request(method: str, cseq: int, to_tag: str = "") -> bytes:
            return (
                f"{method} sip:bob@127.0.0.1:{bob.local_port};transport=tcp SIP/2.0\r\n"
                f"Via: SIP/2.0/TCP {server};branch=z9hG4bK-{method}{cseq}\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:tiny@callboard.test>;tag=t1\r\n"
                f"To: <sip:bob@callboard.test>{to_tag}\r\nCall-ID: flow-1\r\n"
                f"CSeq: {cseq} {method}\r\nContact: <sip:tiny@{server};transport=tcp>\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()

        flow.write(request("INVITE", 1))
        ringing, answer = [await asyncio.wait_for(registrar.responses.get(), 5) for _ in "12"]
        assert ringing.startswith(b"SIP/2.0 180") and answer.startswith(b"SIP/2.0 200")
        tag = re.search(rb"\r\nTo: [^\r]*;tag=([^;\r]+)", answer)
        assert tag is not None
        to_tag = f";tag={tag.group(1).decode()}"
        flow.write(request("ACK", 1, to_tag) + request("BYE", 2, to_tag))
        bye_answer = await asyncio.wait_for(registrar.responses.get(), 5)
        assert bye_answer.startswith(b"SIP/2.0 200") and b"CSeq: 2 BYE" in bye_answer
        await uas.wait_calls(1)
        (await uas.stop()).check(calls=1)


async def test_registered_agent_counts_a_failed_call(sipp: Sipp) -> None:
    async with tiny_registrar("pw") as (server, _):
        bob = sipp.agent("bob", "pw", domain="callboard.test")
        uas = await bob.answer_calls(server=server, recv_timeout_ms=500)
        alice = sipp.agent("alice")
        # uas_answer.xml takes no REFER: its call fails (and so does alice's).
        with pytest.raises(SippFailed):
            await alice.call(uas.address, "bob", scenario="uac_refer.xml", recv_timeout_ms=2000)
        result = await uas.stop()
        assert result.registered and result.failed == 1 and not result.ok


# --------------------------------------------------------------------------- the softphone


async def test_softphone_calls_a_sipp_uas(sipp: Sipp, tmp_path: Path) -> None:
    """baresip -> SIPp directly: ring, answer, DTMF (echoed back by SIPp's -rtp_echo, so
    the phone decodes its own telephone-events), hold and resume, hang up."""
    uas = await sipp.start("uas_answer.xml", service="bob", rtp_echo=True)
    async with Softphone(tmp_path / "phone") as phone:
        await phone.call(f"sip:bob@{uas.address}")
        established = await phone.wait_established()
        assert established.peer_uri == f"sip:bob@{uas.address}"
        await phone.send_dtmf("12#")
        assert [await phone.wait_dtmf() for _ in range(3)] == ["1", "2", "#"]
        await phone.hold()
        await phone.resume()
        closed = await phone.hangup()
        assert closed.call_id == established.call_id
    result = (await uas.wait(within=10)).check(calls=1)
    offers = [re.findall(r"^a=(\w+only|sendrecv)", m, re.M) for m in result.received("INVITE")]
    assert offers == [["sendrecv"], ["sendonly"], ["sendrecv"]]  # INVITE, hold, resume
    answers = [re.findall(r"^a=(\w+only|sendrecv)", m, re.M) for m in result.sent("SIP/2.0 200")]
    assert answers[:3] == [["sendrecv"], ["recvonly"], ["sendrecv"]]


async def test_sipp_calls_the_softphone_which_answers(sipp: Sipp, tmp_path: Path) -> None:
    async with Softphone(tmp_path / "phone", user="carol") as phone:
        uac = await sipp.start(
            "uac_call.xml", f"127.0.0.1:{phone.sip_port}", service="carol", duration_ms=300
        )
        incoming = await phone.wait_incoming()
        assert incoming.direction == "incoming"
        await phone.answer()
        closed = await phone.wait_closed()  # SIPp hangs up after -d
        assert closed.call_id == incoming.call_id
        (await uac.wait()).check(calls=1)


async def test_softphone_rejects_a_ringing_call_with_486(sipp: Sipp, tmp_path: Path) -> None:
    async with Softphone(tmp_path / "phone") as phone:
        uac = await sipp.start("uac_busy.xml", f"127.0.0.1:{phone.sip_port}", service=phone.user)
        await phone.wait_incoming()
        await phone.hangup()
        result = (await uac.wait()).check(calls=1)
        assert result.received("SIP/2.0 486")


async def test_softphone_auto_answers_over_tcp(sipp: Sipp, tmp_path: Path) -> None:
    async with Softphone(tmp_path / "phone", auto_answer=True) as phone:
        await sipp.run(
            "uac_call.xml",
            f"127.0.0.1:{phone.sip_port}",
            transport="tcp",
            service=phone.user,
            duration_ms=200,
            check=True,
        )
        await phone.wait_established()
        await phone.wait_closed()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_softphone_registers_with_digest(tmp_path: Path, transport: Transport) -> None:
    async with (
        tiny_registrar("pw") as (server, registrar),
        Softphone(tmp_path / "phone") as phone,
    ):
        await phone.register(server, "dave", "pw", domain="callboard.test", transport=transport)
        assert f"127.0.0.1:{phone.sip_port}" in registrar.bindings["dave"]
        assert f"transport={transport}" in registrar.bindings["dave"] or transport == "udp"
        await phone.unregister()
        for _ in range(100):  # baresip sends the REGISTER with expires=0 after uadel
            if "expires=0" in registrar.bindings["dave"]:
                break
            await asyncio.sleep(0.02)
        assert "expires=0" in registrar.bindings["dave"], registrar.bindings
        with pytest.raises(SoftphoneError, match="403"):
            await phone.register(server, "erin", "wrong", domain="callboard.test")


async def test_softphones_call_each_other_over_tls(tmp_path: Path) -> None:
    """SIPp here has no TLS, so TLS is proven phone to phone: the callee listens for TLS
    on sip_port + 1 with a self-signed certificate, which the caller accepts."""
    pem = self_signed_pem(tmp_path / "callee.pem")
    async with (
        Softphone(tmp_path / "callee", user="frank", auto_answer=True, tls_certificate=pem) as a,
        Softphone(tmp_path / "caller", user="grace") as b,
    ):
        await b.call(f"sip:frank@127.0.0.1:{a.sip_port + 1};transport=tls")
        await b.wait_established()
        await a.wait_established()
        await b.hangup()
        closed = await a.wait_closed()
        assert closed.reason == "Connection reset by peer"  # a BYE from the far end


async def test_run_scenario_one_shot(tmp_path: Path) -> None:
    async with Sipp(tmp_path / "uas") as sipp:
        uas = await sipp.start("uas_busy.xml", service="bob")
        result = await run_scenario("uac_busy", uas.address, service="bob")
        assert result.ok and result.successful == 1
        assert result.received("SIP/2.0 486")
