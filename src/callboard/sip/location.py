"""The location service: where each registered address-of-record can be reached.

A *binding* (RFC 3261 §10) maps an address-of-record (``sip:1001@my-company.lo``) to one
Contact of a phone, with an absolute expiry, the Call-ID and CSeq of the REGISTER that
made it, and how that REGISTER arrived: the transport, the source address and the token
of the :class:`~callboard.sip.transport.Flow`. Requests to a phone registered over TCP,
TLS, WS or WSS, to a browser whose Contact host is ``<random>.invalid`` and to an RFC 5626
(``reg-id``) registration must go back over that flow (:attr:`Binding.requires_flow`).

:class:`LocationService` implements the binding rules of RFC 3261 §10.3 steps 6-7 and
RFC 5626 §6: several contacts per AOR; a binding is identified by its
``+sip.instance`` (and ``reg-id``) when it has one, by its Contact URI otherwise; a
binding that the same Call-ID already updated with a higher or equal CSeq aborts the whole
request (:class:`OutOfOrderError`); every change of one request is committed together.
Bindings expire: expired ones are dropped on every read and by a periodic sweep
(:meth:`LocationService.start`). Bindings made over a connection are dropped when the
connection closes (:meth:`LocationService.attach` to a transport layer, or call
:meth:`LocationService.flow_closed`). Listeners hear about every binding added,
refreshed or removed, with the reason (:class:`BindingEvent`).

Storage is behind :class:`LocationStore`. :class:`MemoryLocationStore` keeps everything in
this process; a store shared by several nodes (Redis) implements the same protocol.
Updates of one AOR are serialised by a lock in this process; a shared store will also
need a compare-and-set on the AOR's bindings, which this protocol does not have yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from callboard.sip.errors import SipParseError
from callboard.sip.grammar import parse_uint, unquote
from callboard.sip.transport.base import Address, Flow, FlowClosedHandler, TransportKind
from callboard.sip.uri import NameAddress, SipUri

__all__ = [
    "Binding",
    "BindingChange",
    "BindingEvent",
    "BindingListener",
    "ContactSpec",
    "FlowClosedSource",
    "LocationError",
    "LocationService",
    "LocationStore",
    "MemoryLocationStore",
    "OutOfOrderError",
    "RegistrationSource",
    "RemovalReason",
    "TooManyContactsError",
    "normalize_aor",
    "parse_contact_params",
]

_log = logging.getLogger(__name__)

#: The largest ``reg-id`` (RFC 5626 §4.2: 1 to 2**31 - 1).
_MAX_REG_ID = 2**31 - 1


def normalize_aor(uri: SipUri | str) -> str:
    """The canonical address-of-record of ``uri`` (RFC 3261 §10.3 step 5).

    Parameters and headers are dropped, escapes resolved, the scheme and host
    lower-cased; the user keeps its case (§19.1.4). ``sip:Alice@Example.COM;transport=tcp``
    becomes ``sip:Alice@example.com``.
    """
    if isinstance(uri, str):
        uri = SipUri.parse(uri)
    return uri.aor


# -- bindings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactSpec:
    """One Contact of a REGISTER, as the registrar understood it.

    ``expires`` is the interval granted, in seconds (0 removes the binding). ``instance``
    is the ``+sip.instance`` value without its quotes (``<urn:uuid:...>``); ``reg_id`` is
    set only when the registrar processes RFC 5626 ``reg-id`` for this request.
    """

    contact: NameAddress
    expires: int
    q: float = 1.0
    instance: str | None = None
    reg_id: int | None = None

    @classmethod
    def from_contact(
        cls, contact: NameAddress, expires: int, *, outbound: bool = True
    ) -> ContactSpec:
        """Read ``q``, ``+sip.instance`` and (when ``outbound``) ``reg-id`` from the
        Contact's parameters. Raises :class:`SipParseError` for a malformed one."""
        q, instance, reg_id = parse_contact_params(contact)
        return cls(contact, expires, q, instance, reg_id if outbound else None)


def parse_contact_params(contact: NameAddress) -> tuple[float, str | None, int | None]:
    """(q, +sip.instance, reg-id) of a Contact value; raises :class:`SipParseError`."""
    params = contact.params
    q = 1.0
    q_text = params.get("q")
    if "q" in params:
        # qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
        if q_text is None or not _is_qvalue(q_text):
            raise SipParseError("Invalid Contact q Parameter")
        q = float(q_text)
    instance: str | None = None
    if "+sip.instance" in params:
        raw = params["+sip.instance"]
        if raw is None or len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
            raise SipParseError("Invalid Contact +sip.instance Parameter")
        instance = unquote(raw)
        if not instance:
            raise SipParseError("Invalid Contact +sip.instance Parameter")
    reg_id: int | None = None
    if "reg-id" in params:
        raw = params["reg-id"]
        reg_id = parse_uint(raw or "", _MAX_REG_ID, "Contact reg-id Parameter")
        if reg_id == 0:
            raise SipParseError("Invalid Contact reg-id Parameter")
    return q, instance, reg_id


def _is_qvalue(text: str) -> bool:
    whole, _, fraction = text.partition(".")
    if whole not in ("0", "1") or len(fraction) > 3:
        return False
    if fraction and not (fraction.isascii() and fraction.isdigit()):
        return False
    return whole == "0" or not fraction.strip("0")


@dataclass(frozen=True, slots=True)
class RegistrationSource:
    """How a REGISTER arrived: the transport, the source address and the flow token."""

    transport: TransportKind
    remote: Address
    flow_token: str

    @classmethod
    def from_flow(cls, flow: Flow) -> RegistrationSource:
        return cls(flow.kind, flow.remote, flow.token)


@dataclass(frozen=True, slots=True)
class Binding:
    """One contact of one address-of-record.

    Times are wall-clock seconds (``time.time()`` of the service's clock), so that a
    store shared by several processes can compare them.
    """

    #: The canonical address-of-record (:func:`normalize_aor`).
    aor: str
    #: The Contact value as registered, URI and header parameters (``expires`` aside).
    contact: NameAddress
    #: Absolute expiry time.
    expires_at: float
    call_id: str
    cseq: int
    #: Transport and source address of the REGISTER (the "received" address).
    transport: TransportKind
    source: Address
    #: The token of the flow the REGISTER came on (``TransportLayer.flow_by_token``).
    flow_token: str
    q: float = 1.0
    #: ``+sip.instance`` without its quotes, e.g. ``<urn:uuid:...>``.
    instance: str | None = None
    #: RFC 5626 ``reg-id``, when the registrar processed it (an outbound registration).
    reg_id: int | None = None
    user_agent: str | None = None
    #: Path header field values (RFC 3327), the first one nearest to the registrar.
    path: tuple[str, ...] = ()
    #: Whatever the credential source said owns the account (device / domain ids).
    owner: object = None
    #: When this binding was first made, and when it was last refreshed.
    registered_at: float = 0.0
    updated_at: float = 0.0

    @property
    def uri(self) -> SipUri:
        uri = self.contact.uri
        assert isinstance(uri, SipUri)
        return uri

    @property
    def outbound(self) -> bool:
        """An RFC 5626 registration: requests must use this flow."""
        return self.reg_id is not None and self.instance is not None

    @property
    def connection_bound(self) -> bool:
        """Made over a connection (TCP, TLS, WS, WSS): it dies with that connection."""
        return self.transport.reliable

    @property
    def requires_flow(self) -> bool:
        """Requests to this contact must be sent over :attr:`flow_token`: the binding is
        connection-bound, an RFC 5626 one, or its Contact host cannot be resolved
        (``<random>.invalid``, as JsSIP and SIP.js register)."""
        return (
            self.connection_bound
            or self.outbound
            or self.uri.host.lower().rstrip(".").endswith(".invalid")
        )

    def remaining(self, now: float) -> int:
        """Whole seconds left before expiry (0 when expired)."""
        return max(0, math.ceil(self.expires_at - now - 1e-9))

    def expired(self, now: float) -> bool:
        return self.expires_at <= now

    def contact_with_expires(self, now: float) -> NameAddress:
        """The Contact value to list in a 200 to REGISTER: ``;expires=`` the time left."""
        params = {k: v for k, v in self.contact.params.items() if k != "expires"}
        params["expires"] = str(self.remaining(now))
        return replace(self.contact, params=params)

    def matches(self, spec: ContactSpec) -> bool:
        """Whether ``spec`` names this binding: the same ``+sip.instance`` and ``reg-id``
        when both have an instance (RFC 5626 §6, RFC 5627), else the same Contact URI
        (compared by RFC 3261 §19.1.4)."""
        if spec.instance is not None and self.instance is not None:
            return spec.instance == self.instance and spec.reg_id == self.reg_id
        return self.contact.uri == spec.contact.uri


class BindingChange(enum.StrEnum):
    ADDED = "added"
    REFRESHED = "refreshed"
    REMOVED = "removed"


class RemovalReason(enum.StrEnum):
    #: The phone asked (Expires 0, ``Contact: *``), or an administrator cleared the AOR.
    UNREGISTERED = "unregistered"
    #: Not refreshed in time.
    EXPIRED = "expired"
    #: The connection it was registered over closed.
    FLOW_CLOSED = "flow_closed"
    #: A new registration of the same instance (and reg-id) arrived on another flow or
    #: with another Contact URI; an ``ADDED`` event for the new binding follows.
    REPLACED = "replaced"
    #: The AOR had more bindings than allowed; the least recently refreshed one went.
    EVICTED = "evicted"


@dataclass(frozen=True, slots=True)
class BindingEvent:
    """A change to a binding. ``binding`` is the new binding (added, refreshed) or the
    one removed; ``reason`` says why (removals only); ``previous`` is the binding before
    a refresh, or the one an added binding replaced."""

    change: BindingChange
    binding: Binding
    reason: RemovalReason | None = None
    previous: Binding | None = None

    @property
    def aor(self) -> str:
        return self.binding.aor


#: ``listener(event)``; runs on the event loop, must not block; exceptions are logged.
BindingListener = Callable[[BindingEvent], None]


class LocationError(Exception):
    """A REGISTER could not be applied; ``status`` and ``reason`` are the response."""

    status = 500
    reason = "Server Internal Error"


class OutOfOrderError(LocationError):
    """The same Call-ID already updated a binding with a higher or equal CSeq (RFC 3261
    §10.3 step 7): a late or replayed REGISTER. Nothing was changed."""

    status = 400
    reason = "Invalid CSeq Number"


class TooManyContactsError(LocationError):
    """One request asked for more contacts than an AOR may have."""

    status = 403
    reason = "Too Many Contacts"


# -- storage ----------------------------------------------------------------------------


class LocationStore(Protocol):
    """Where bindings live. All operations are per AOR; :class:`LocationService` reads
    an AOR's bindings, computes the new list and writes it back whole."""

    async def get(self, aor: str) -> list[Binding]:
        """Every stored binding of ``aor``, expired ones included, in insertion order."""
        ...

    async def put(self, aor: str, bindings: Sequence[Binding]) -> None:
        """Replace every binding of ``aor``; an empty sequence deletes the AOR."""
        ...

    async def aors_with_flow(self, flow_token: str) -> list[str]:
        """The AORs that have a binding registered over ``flow_token``."""
        ...

    async def aors_expiring(self, before: float) -> list[str]:
        """AORs that may have a binding that expires at or before ``before`` (more may
        be returned than strictly necessary; none that does may be left out)."""
        ...

    async def count(self) -> int:
        """The number of stored bindings."""
        ...


class MemoryLocationStore:
    """:class:`LocationStore` in this process's memory, with indexes by flow and by
    expiry time (a heap, compacted when it holds too many outdated entries)."""

    def __init__(self) -> None:
        self._bindings: dict[str, tuple[Binding, ...]] = {}
        self._by_flow: dict[str, set[str]] = {}
        self._expiry: list[tuple[float, str]] = []
        self._count = 0

    async def get(self, aor: str) -> list[Binding]:
        return list(self._bindings.get(aor, ()))

    async def put(self, aor: str, bindings: Sequence[Binding]) -> None:
        old = self._bindings.pop(aor, ())
        self._count -= len(old)
        for binding in old:
            aors = self._by_flow.get(binding.flow_token)
            if aors is not None:
                aors.discard(aor)
                if not aors:
                    del self._by_flow[binding.flow_token]
        if bindings:
            self._bindings[aor] = tuple(bindings)
            self._count += len(bindings)
        for binding in bindings:
            self._by_flow.setdefault(binding.flow_token, set()).add(aor)
            heapq.heappush(self._expiry, (binding.expires_at, aor))
        if len(self._expiry) > 2 * self._count + 1024:
            self._expiry = [
                (binding.expires_at, key)
                for key, stored in self._bindings.items()
                for binding in stored
            ]
            heapq.heapify(self._expiry)

    async def aors_with_flow(self, flow_token: str) -> list[str]:
        return sorted(self._by_flow.get(flow_token, ()))

    async def aors_expiring(self, before: float) -> list[str]:
        found: dict[str, None] = {}
        heap = self._expiry
        while heap and heap[0][0] <= before:
            _, aor = heapq.heappop(heap)
            if aor in self._bindings:
                found[aor] = None
        return list(found)

    async def count(self) -> int:
        return self._count


# -- the service ------------------------------------------------------------------------


class FlowClosedSource(Protocol):
    """What :meth:`LocationService.attach` needs of a transport layer."""

    def add_flow_closed_listener(self, handler: FlowClosedHandler) -> None: ...

    def remove_flow_closed_listener(self, handler: FlowClosedHandler) -> None: ...


@dataclass(slots=True)
class _AorLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class LocationService:
    """Bindings of every AOR, their rules, expiry and change notifications.

    ``clock`` is a wall clock (seconds since the epoch); tests pass a fake one.
    ``max_contacts`` bounds the bindings of one AOR: when a registration would go over
    it, the least recently refreshed other bindings are removed (``EVICTED``).
    """

    def __init__(
        self,
        store: LocationStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_contacts: int = 10,
    ) -> None:
        if max_contacts < 1:
            raise ValueError("max_contacts must be at least 1")
        self.store: LocationStore = store if store is not None else MemoryLocationStore()
        self.clock = clock
        self.max_contacts = max_contacts
        self._listeners: list[BindingListener] = []
        self._locks: dict[str, _AorLock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._attached: FlowClosedSource | None = None

    # -- listeners ------------------------------------------------------------------------

    def add_listener(self, listener: BindingListener) -> None:
        """Call ``listener(event)`` after every committed change to a binding."""
        self._listeners.append(listener)

    def remove_listener(self, listener: BindingListener) -> None:
        self._listeners.remove(listener)

    def _notify(self, events: Iterable[BindingEvent]) -> None:
        for event in events:
            for listener in tuple(self._listeners):
                try:
                    listener(event)
                except Exception:
                    _log.exception("binding listener failed on %s %s", event.change, event.aor)

    # -- reading --------------------------------------------------------------------------

    async def lookup(self, aor: str) -> list[Binding]:
        """The live bindings of ``aor``: highest ``q`` first, then most recently
        refreshed first. Expired bindings found on the way are removed (``EXPIRED``)."""
        bindings = await self.store.get(aor)
        now = self.clock()
        if any(binding.expired(now) for binding in bindings):
            async with self._lock(aor):
                bindings = await self._drop_expired(aor, await self.store.get(aor))
        return _sorted(bindings)

    async def count(self) -> int:
        """Stored bindings (some may have expired since the last sweep)."""
        return await self.store.count()

    # -- registering ----------------------------------------------------------------------

    async def register(
        self,
        aor: str,
        contacts: Sequence[ContactSpec],
        *,
        call_id: str,
        cseq: int,
        source: RegistrationSource,
        user_agent: str | None = None,
        path: Sequence[str] = (),
        owner: object = None,
    ) -> list[Binding]:
        """Apply one REGISTER's contacts to ``aor`` (RFC 3261 §10.3 steps 6-7).

        A contact with ``expires`` 0 removes its binding; others add or refresh one. An
        empty ``contacts`` is a query. Returns the live bindings afterwards, sorted as by
        :meth:`lookup`. Raises :class:`OutOfOrderError` (nothing changed) when the
        request's Call-ID has already updated a matching binding with a CSeq at least as
        high, and :class:`TooManyContactsError` when ``contacts`` alone add more bindings
        than ``max_contacts``.
        """
        if sum(1 for spec in contacts if spec.expires > 0) > self.max_contacts:
            raise TooManyContactsError()
        async with self._lock(aor):
            now = self.clock()
            stored = await self.store.get(aor)
            current = [binding for binding in stored if not binding.expired(now)]
            events = [
                BindingEvent(BindingChange.REMOVED, binding, RemovalReason.EXPIRED)
                for binding in stored
                if binding.expired(now)
            ]
            touched: set[int] = set()  # ids of the bindings this request made
            for spec in contacts:
                index = next(
                    (i for i, binding in enumerate(current) if binding.matches(spec)), None
                )
                existing = None if index is None else current[index]
                if (
                    existing is not None
                    and id(existing) not in touched  # not listed twice in this request
                    and existing.call_id == call_id
                    and existing.cseq >= cseq
                ):
                    raise OutOfOrderError()
                if spec.expires == 0:
                    if index is not None and existing is not None:
                        del current[index]
                        events.append(
                            BindingEvent(
                                BindingChange.REMOVED, existing, RemovalReason.UNREGISTERED
                            )
                        )
                    continue
                new = Binding(
                    aor=aor,
                    contact=_without_expires(spec.contact),
                    expires_at=now + spec.expires,
                    call_id=call_id,
                    cseq=cseq,
                    transport=source.transport,
                    source=source.remote,
                    flow_token=source.flow_token,
                    q=spec.q,
                    instance=spec.instance,
                    reg_id=spec.reg_id,
                    user_agent=user_agent,
                    path=tuple(path),
                    owner=owner,
                    registered_at=now if existing is None else existing.registered_at,
                    updated_at=now,
                )
                if index is None or existing is None:
                    current.append(new)
                    events.append(BindingEvent(BindingChange.ADDED, new))
                else:
                    current[index] = new
                    if (
                        existing.flow_token != new.flow_token
                        or existing.contact.uri != new.contact.uri
                    ):
                        events.append(
                            BindingEvent(BindingChange.REMOVED, existing, RemovalReason.REPLACED)
                        )
                        events.append(BindingEvent(BindingChange.ADDED, new, previous=existing))
                    else:
                        events.append(BindingEvent(BindingChange.REFRESHED, new, previous=existing))
                touched.add(id(new))
            if len(current) > self.max_contacts:
                spare = sorted(
                    (binding for binding in current if id(binding) not in touched),
                    key=lambda binding: binding.updated_at,
                )
                evicted = spare[: len(current) - self.max_contacts]
                gone = {id(binding) for binding in evicted}
                current = [binding for binding in current if id(binding) not in gone]
                events.extend(
                    BindingEvent(BindingChange.REMOVED, binding, RemovalReason.EVICTED)
                    for binding in evicted
                )
            if events:
                await self.store.put(aor, current)
            self._notify(events)
            return _sorted(current)

    async def unregister_all(self, aor: str, *, call_id: str, cseq: int) -> list[Binding]:
        """``Contact: *`` with ``Expires: 0`` (RFC 3261 §10.3 step 6): remove every
        binding of ``aor``. Raises :class:`OutOfOrderError` (nothing changed) when the
        same Call-ID has updated one of them with a CSeq at least as high. Returns the
        bindings removed."""
        async with self._lock(aor):
            now = self.clock()
            stored = await self.store.get(aor)
            for binding in stored:
                if not binding.expired(now) and binding.call_id == call_id and binding.cseq >= cseq:
                    raise OutOfOrderError()
            if stored:
                await self.store.put(aor, ())
            self._notify(_removals(stored, now, RemovalReason.UNREGISTERED))
            return [binding for binding in stored if not binding.expired(now)]

    async def remove_aor(
        self, aor: str, reason: RemovalReason = RemovalReason.UNREGISTERED
    ) -> list[Binding]:
        """Remove every binding of ``aor`` unconditionally (the device was deleted or
        its password changed). Returns the live bindings removed."""
        async with self._lock(aor):
            now = self.clock()
            stored = await self.store.get(aor)
            if stored:
                await self.store.put(aor, ())
            self._notify(_removals(stored, now, reason))
            return [binding for binding in stored if not binding.expired(now)]

    # -- flows ----------------------------------------------------------------------------

    async def flow_closed(self, flow_token: str) -> list[Binding]:
        """Remove the connection-bound bindings registered over ``flow_token``
        (``FLOW_CLOSED``). Returns them."""
        removed: list[Binding] = []
        for aor in await self.store.aors_with_flow(flow_token):
            async with self._lock(aor):
                now = self.clock()
                stored = await self.store.get(aor)
                keep: list[Binding] = []
                gone: list[Binding] = []
                for binding in stored:
                    if binding.flow_token == flow_token and binding.connection_bound:
                        gone.append(binding)
                    else:
                        keep.append(binding)
                if not gone:
                    continue
                await self.store.put(aor, keep)
                self._notify(_removals(gone, now, RemovalReason.FLOW_CLOSED))
                removed.extend(binding for binding in gone if not binding.expired(now))
        return removed

    def on_flow_closed(self, flow: Flow) -> None:
        """A ``FlowClosedHandler``: schedules :meth:`flow_closed` for ``flow``."""
        if not flow.kind.reliable:
            return
        task = asyncio.get_running_loop().create_task(self._flow_closed_task(flow.token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flow_closed_task(self, token: str) -> None:
        try:
            await self.flow_closed(token)
        except Exception:
            _log.exception("removing the bindings of a closed flow failed")

    def attach(self, transport: FlowClosedSource) -> None:
        """Remove connection-bound bindings whenever ``transport`` reports a closed flow
        (``transport`` is a :class:`~callboard.sip.transport.TransportLayer`)."""
        if self._attached is not None:
            raise RuntimeError("already attached to a transport layer")
        transport.add_flow_closed_listener(self.on_flow_closed)
        self._attached = transport

    def detach(self) -> None:
        if self._attached is not None:
            self._attached.remove_flow_closed_listener(self.on_flow_closed)
            self._attached = None

    # -- expiry ---------------------------------------------------------------------------

    async def sweep(self) -> list[Binding]:
        """Remove every expired binding (``EXPIRED``); return them."""
        now = self.clock()
        removed: list[Binding] = []
        for aor in await self.store.aors_expiring(now):
            async with self._lock(aor):
                stored = await self.store.get(aor)
                live = {id(binding) for binding in await self._drop_expired(aor, stored)}
                removed.extend(binding for binding in stored if id(binding) not in live)
        return removed

    def start(self, interval: float = 15.0) -> None:
        """Run :meth:`sweep` every ``interval`` seconds until :meth:`stop`."""
        if self._sweeper is not None:
            raise RuntimeError("the sweeper is already running")
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(interval))

    async def stop(self) -> None:
        """Stop the sweeper, detach from the transport layer, and wait for the removals
        of closed flows that are under way."""
        self.detach()
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _sweep_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                _log.exception("sweeping expired bindings failed")

    # -- helpers --------------------------------------------------------------------------

    async def _drop_expired(self, aor: str, stored: list[Binding]) -> list[Binding]:
        """Under the AOR's lock: store and announce ``stored`` without its expired
        bindings; return the live ones."""
        now = self.clock()
        live = [binding for binding in stored if not binding.expired(now)]
        if len(live) != len(stored):
            await self.store.put(aor, live)
            self._notify(
                BindingEvent(BindingChange.REMOVED, binding, RemovalReason.EXPIRED)
                for binding in stored
                if binding.expired(now)
            )
        return live

    @contextlib.asynccontextmanager
    async def _lock(self, aor: str) -> AsyncIterator[None]:
        entry = self._locks.get(aor)
        if entry is None:
            entry = self._locks[aor] = _AorLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[aor]


def _sorted(bindings: Iterable[Binding]) -> list[Binding]:
    return sorted(bindings, key=lambda binding: (-binding.q, -binding.updated_at))


def _without_expires(contact: NameAddress) -> NameAddress:
    if "expires" not in contact.params:
        return contact
    return replace(contact, params={k: v for k, v in contact.params.items() if k != "expires"})


def _removals(bindings: Iterable[Binding], now: float, reason: RemovalReason) -> list[BindingEvent]:
    """Removal events; a binding that had already expired is reported as ``EXPIRED``."""
    return [
        BindingEvent(
            BindingChange.REMOVED,
            binding,
            RemovalReason.EXPIRED if binding.expired(now) else reason,
        )
        for binding in bindings
    ]
