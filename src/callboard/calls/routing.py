"""Where a call goes: an extension rings every registered contact of its user; another
number goes out through the first trunk whose pattern it matches."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from callboard.calls.causes import HangupCause
from callboard.calls.directory import Directory, TrunkInfo, UserInfo
from callboard.calls.events import Party, PartyKind
from callboard.calls.sdp import MediaKind
from callboard.sip.location import Binding, LocationService, normalize_aor
from callboard.sip.uri import SipUri


@dataclass(frozen=True, slots=True)
class Route:
    """Who to ring: a user's contacts, or a number through a trunk."""

    party: Party
    number: str
    user: UserInfo | None = None
    contacts: tuple[Binding, ...] = ()
    trunk: TrunkInfo | None = None


@dataclass(frozen=True, slots=True)
class Unroutable:
    status: int
    cause: HangupCause
    reason: str
    warning: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def media_of(binding: Binding) -> MediaKind:
    """Browsers register over WebSocket and speak WebRTC; everything else plain RTP."""
    return MediaKind.WEBRTC if binding.transport.websocket else MediaKind.RTP


class Router:
    def __init__(self, directory: Directory, location: LocationService) -> None:
        self.directory = directory
        self.location = location

    async def route(
        self, domain_id: int, domain: str, number: str, offer: MediaKind | None
    ) -> Route | Unroutable:
        user = await self.directory.user_by_extension(domain_id, number)
        if user is not None:
            return await self.ring_user(user, offer)
        for trunk in await self.directory.trunks(domain_id):
            if re.search(trunk.outbound_pattern, number):
                if offer is MediaKind.WEBRTC:
                    return _incompatible("the trunk speaks plain RTP")
                return Route(Party(number, number, PartyKind.EXTERNAL), number, trunk=trunk)
        return Unroutable(404, HangupCause.UNALLOCATED_NUMBER, "Not Found")

    async def ring_user(self, user: UserInfo, offer: MediaKind | None) -> Route | Unroutable:
        party = Party(user.extension or str(user.user_id), user.name, PartyKind.USER, user.user_id)
        contacts: list[Binding] = []
        for account in user.accounts:
            aor = normalize_aor(SipUri(user.domain, account))
            contacts.extend(await self.location.lookup(aor))
        if not contacts:
            return Unroutable(480, HangupCause.USER_NOT_REGISTERED, "Temporarily Unavailable")
        usable = [c for c in contacts if offer is None or media_of(c) is offer]
        if not usable:
            other = "plain RTP phone" if offer is MediaKind.WEBRTC else "WebRTC browser"
            return _incompatible(f"the {offer} offer cannot reach a {other}")
        return Route(party, party.number, user=user, contacts=tuple(usable))


def _incompatible(why: str) -> Unroutable:
    # Until Callboard anchors media, two peers that speak different media cannot talk.
    return Unroutable(
        488,
        HangupCause.INCOMPATIBLE_DESTINATION,
        "Not Acceptable Here",
        warning=f'399 callboard "Incompatible media: {why}; no media relay yet"',
    )
