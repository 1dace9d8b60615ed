"""Ephemeral SIP credentials (callboard.directory.ephemeral): the username's format and
the derivation, with the digest computation a phone makes on top of it.

A credential "works" when the digest response a phone computes from the HA1 it was
handed matches the one the server computes from the HA1 `verify` derives: that is what
the registrar checks (`callboard.sip.digest.verify_response`)."""

from __future__ import annotations

import dataclasses

import pytest

from callboard.calls.directory import DeviceInfo
from callboard.directory import ephemeral
from callboard.directory.ephemeral import EphemeralName, issue, lifetime_end, parse_username, verify
from callboard.sip.digest import (
    DigestChallenge,
    build_authorization,
    compute_ha1,
    verify_response,
)

KEY = bytes(range(32))
NOW = 1_763_700_000.0
DEVICE = DeviceInfo(
    device_id=3,
    domain_id=1,
    domain="callboard.lo",
    account="webphone1001",
    ha1_md5=compute_ha1("webphone1001", "callboard.lo", "device-passw0rd"),
    ha1_sha256=compute_ha1("webphone1001", "callboard.lo", "device-passw0rd", "SHA-256"),
    user_id=2,
    user_name="Alice",
    extension="1001",
)


def phone_proves(username: str, ha1: str, server_ha1: str, realm: str = "callboard.lo") -> bool:
    """A JsSIP-style answer (it has only `ha1`) to a challenge, checked by the server
    against `server_ha1`."""
    challenge = DigestChallenge(realm=realm, nonce="n0nce", algorithm="MD5", qop=("auth",))
    answer = build_authorization(
        challenge, method="REGISTER", uri=f"sip:{realm}", username=username, ha1=ha1
    )
    return verify_response(answer, server_ha1, "REGISTER")


def server_ha1(device: DeviceInfo, username: str, key: bytes = KEY, now: float = NOW) -> str | None:
    name = parse_username(username)
    assert name is not None
    found = verify(key, device, name, now)
    return None if found is None else found.ha1_md5


# -- the username ---------------------------------------------------------------------------


def test_the_username_carries_its_expiry_before_the_account() -> None:
    issued = issue(KEY, DEVICE, 1_763_703_600)
    assert issued.username == "1763703600:webphone1001"
    assert parse_username(issued.username) == EphemeralName(1_763_703_600, "webphone1001")
    assert issued.expires_at == 1_763_703_600


@pytest.mark.parametrize(
    "username",
    [
        "webphone1001",  # a real account: no separator
        "1001",
        ":webphone1001",  # no expiry
        "1763703600:",  # no account
        "01763703600:webphone1001",  # not the one spelling of the number
        "+1763703600:webphone1001",
        "-1:webphone1001",
        "17637036OO:webphone1001",
        "1763703600:web:phone",  # accounts never contain the separator
        "9999999999999:webphone1001",  # absurdly far ahead
        "",
    ],
)
def test_anything_else_is_not_an_ephemeral_username(username: str) -> None:
    assert parse_username(username) is None


def test_a_device_account_can_never_look_ephemeral() -> None:
    # The separator is not among the characters a device account may use.
    from callboard.directory.devices import DeviceSpec

    with pytest.raises(ValueError):
        DeviceSpec(account="1763703600:webphone1001")


# -- the derivation -------------------------------------------------------------------------


def test_issued_credentials_prove_themselves_until_they_expire() -> None:
    issued = issue(KEY, DEVICE, int(NOW) + 3600)
    found = verify(KEY, DEVICE, EphemeralName(int(NOW) + 3600, DEVICE.account), NOW)
    assert found is not None
    assert found.device == DEVICE and found.expires_at == int(NOW) + 3600
    assert (found.ha1_md5, found.ha1_sha256) == (issued.ha1_md5, issued.ha1_sha256)
    assert phone_proves(issued.username, issued.ha1_md5, found.ha1_md5)
    # Nothing of the device's own secret is handed out.
    assert issued.ha1_md5 != DEVICE.ha1_md5 and issued.ha1_sha256 != DEVICE.ha1_sha256
    # The SHA-256 HA1 is of the same derived password.
    assert len(issued.ha1_sha256) == 64


def test_expired_credentials_are_refused() -> None:
    issued = issue(KEY, DEVICE, int(NOW) - 1)
    assert server_ha1(DEVICE, issued.username) is None
    at_the_second = issue(KEY, DEVICE, int(NOW))
    assert server_ha1(DEVICE, at_the_second.username) is None
    assert server_ha1(DEVICE, at_the_second.username, now=NOW - 1) is not None


def test_credentials_further_ahead_than_ever_issued_are_refused() -> None:
    ahead = int(NOW) + ephemeral.MAX_LIFETIME
    assert server_ha1(DEVICE, issue(KEY, DEVICE, ahead).username) is not None
    assert server_ha1(DEVICE, issue(KEY, DEVICE, ahead + 1).username) is None


def test_a_tampered_expiry_does_not_prove() -> None:
    issued = issue(KEY, DEVICE, int(NOW) + 60)
    later = f"{int(NOW) + 7200}:{DEVICE.account}"
    ha1 = server_ha1(DEVICE, later)
    assert ha1 is not None  # a well-formed username: the digest decides
    assert not phone_proves(later, issued.ha1_md5, ha1)


def test_another_accounts_credentials_do_not_prove() -> None:
    bob = dataclasses.replace(DEVICE, device_id=4, account="webphone1002", user_id=5)
    alices = issue(KEY, DEVICE, int(NOW) + 60)
    # Alice's username presented for Bob's device: the account does not match.
    name = parse_username(alices.username)
    assert name is not None and verify(KEY, bob, name, NOW) is None
    # Bob's own username with Alice's HA1.
    bobs_name = f"{int(NOW) + 60}:webphone1002"
    ha1 = server_ha1(bob, bobs_name)
    assert ha1 is not None and not phone_proves(bobs_name, alices.ha1_md5, ha1)


def test_the_same_account_in_another_domain_does_not_prove() -> None:
    elsewhere = dataclasses.replace(DEVICE, device_id=9, domain_id=2, domain="other.lo")
    issued = issue(KEY, DEVICE, int(NOW) + 60)
    ha1 = server_ha1(elsewhere, issued.username)
    assert ha1 is not None
    assert not phone_proves(issued.username, issued.ha1_md5, ha1, realm="other.lo")


def test_another_nodes_secret_key_does_not_prove() -> None:
    issued = issue(KEY, DEVICE, int(NOW) + 60)
    ha1 = server_ha1(DEVICE, issued.username, key=bytes(32))
    assert ha1 is not None and not phone_proves(issued.username, issued.ha1_md5, ha1)
    # The same key on another node does.
    assert phone_proves(issued.username, issued.ha1_md5, server_ha1(DEVICE, issued.username) or "")


@pytest.mark.parametrize(
    "change",
    [
        {"device_id": 33},  # deleted and made again with the same account
        {"user_id": 7},  # moved to another user
        {"ha1_md5": compute_ha1("webphone1001", "callboard.lo", "a-new-passw0rd")},
    ],
    ids=["device re-created", "device moved to another user", "device password changed"],
)
def test_a_changed_device_no_longer_accepts_them(change: dict[str, object]) -> None:
    issued = issue(KEY, DEVICE, int(NOW) + 60)
    changed = dataclasses.replace(DEVICE, **change)  # type: ignore[arg-type]
    ha1 = server_ha1(changed, issued.username)
    assert ha1 is not None and not phone_proves(issued.username, issued.ha1_md5, ha1)


def test_a_device_without_an_enabled_user_has_none() -> None:
    issued = issue(KEY, DEVICE, int(NOW) + 60)
    orphan = dataclasses.replace(DEVICE, user_id=None)
    assert server_ha1(orphan, issued.username) is None
    with pytest.raises(ValueError):
        issue(KEY, orphan, int(NOW) + 60)


def test_the_lifetime_ends_with_the_token_but_is_capped() -> None:
    token_ms = int(NOW + 600) * 1000
    assert lifetime_end(token_ms, NOW) == int(NOW) + 600
    assert lifetime_end(token_ms + 999, NOW) == int(NOW) + 600  # never past the token
    far = int(NOW + 30 * 24 * 3600) * 1000
    assert lifetime_end(far, NOW) == int(NOW) + ephemeral.MAX_LIFETIME == int(NOW) + 12 * 3600
