"""The location service: bindings, their identity and order rules, expiry, flows, events."""

from __future__ import annotations

import asyncio
import logging

import pytest

from callboard.sip.errors import SipParseError
from callboard.sip.location import (
    Binding,
    BindingChange,
    BindingEvent,
    ContactSpec,
    LocationService,
    MemoryLocationStore,
    OutOfOrderError,
    RegistrationSource,
    RemovalReason,
    TooManyContactsError,
    normalize_aor,
    parse_contact_params,
)
from callboard.sip.transport import Address, ListenerConfig, TransportKind, TransportLayer
from callboard.sip.uri import NameAddress
from tests.sip.fakes import FakeClock, FakeFlow, FakeTransport
from tests.sip.transport.helpers import Inbox, sip_message

AOR = "sip:1001@my-company.lo"
WS_CONTACT = (
    "<sip:k3v9q2mh@8fj2kd93lq0s.invalid;transport=ws>;+sip.ice;reg-id=1;"
    '+sip.instance="<urn:uuid:3b5c2f0e-8a3d-4e6b-9a51-1f0e2c7d9a10>";expires=90'
)
UDP = RegistrationSource(TransportKind.UDP, Address("192.0.2.10", 5062), "u-1")


def spec(text: str, expires: int = 3600) -> ContactSpec:
    return ContactSpec.from_contact(NameAddress.parse(text), expires)


class Events:
    """A binding listener that keeps what it hears."""

    def __init__(self) -> None:
        self.events: list[BindingEvent] = []

    def __call__(self, event: BindingEvent) -> None:
        self.events.append(event)

    def take(self) -> list[tuple[BindingChange, RemovalReason | None, str]]:
        taken = [(e.change, e.reason, str(e.binding.contact.uri)) for e in self.events]
        self.events.clear()
        return taken


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
async def service(clock: FakeClock, events: Events) -> LocationService:
    location = LocationService(clock=clock, max_contacts=5)
    location.add_listener(events)
    return location


async def register(
    service: LocationService,
    *contacts: ContactSpec,
    call_id: str = "call-1",
    cseq: int = 1,
    source: RegistrationSource = UDP,
    aor: str = AOR,
) -> list[Binding]:
    return await service.register(
        aor, contacts, call_id=call_id, cseq=cseq, source=source, user_agent="test/1"
    )


class TestRegister:
    async def test_a_binding_keeps_what_the_register_said(
        self, service: LocationService, clock: FakeClock, events: Events
    ) -> None:
        flow = FakeFlow(TransportKind.WS, Address("203.0.113.5", 51000))
        [binding] = await service.register(
            AOR,
            [ContactSpec.from_contact(NameAddress.parse(WS_CONTACT), 90)],
            call_id="abc",
            cseq=2,
            source=RegistrationSource.from_flow(flow),
            user_agent="Webitel-Phone/3.13.8",
            path=("<sip:edge.example;lr;ob>",),
            owner=("domain", 1, "device", 7),
        )
        assert binding.aor == AOR
        assert str(binding.uri) == "sip:k3v9q2mh@8fj2kd93lq0s.invalid;transport=ws"
        assert "expires" not in binding.contact.params
        assert binding.contact.params["+sip.ice"] is None
        assert binding.expires_at == clock.now + 90
        assert (binding.call_id, binding.cseq) == ("abc", 2)
        assert binding.transport is TransportKind.WS
        assert binding.source == Address("203.0.113.5", 51000)
        assert binding.flow_token == flow.token
        assert binding.instance == "<urn:uuid:3b5c2f0e-8a3d-4e6b-9a51-1f0e2c7d9a10>"
        assert binding.reg_id == 1
        assert binding.outbound and binding.connection_bound and binding.requires_flow
        assert binding.user_agent == "Webitel-Phone/3.13.8"
        assert binding.path == ("<sip:edge.example;lr;ob>",)
        assert binding.owner == ("domain", 1, "device", 7)
        assert binding.registered_at == binding.updated_at == clock.now
        assert binding.remaining(clock.now) == 90
        assert str(binding.contact_with_expires(clock.now + 30)).endswith(";expires=60")
        assert events.take() == [(BindingChange.ADDED, None, str(binding.uri))]
        assert await service.lookup(AOR) == [binding]
        assert await service.count() == 1

    async def test_refresh_same_call_id_higher_cseq(
        self, service: LocationService, clock: FakeClock, events: Events
    ) -> None:
        [first] = await register(service, spec("<sip:1001@192.0.2.10:5062>"), cseq=1)
        clock.advance(100)
        [second] = await register(service, spec("<sip:1001@192.0.2.10:5062>"), cseq=2)
        assert second.registered_at == first.registered_at
        assert second.updated_at == clock.now
        assert second.expires_at == clock.now + 3600
        assert events.events[-1].change is BindingChange.REFRESHED
        assert events.events[-1].previous == first
        assert await service.lookup(AOR) == [second]

    @pytest.mark.parametrize("cseq", [1, 2])
    async def test_same_call_id_with_lower_or_equal_cseq_is_refused(
        self, service: LocationService, events: Events, cseq: int
    ) -> None:
        await register(service, spec("<sip:1001@192.0.2.10:5062>"), cseq=2)
        before = await service.lookup(AOR)
        events.take()
        with pytest.raises(OutOfOrderError) as caught:
            await register(
                service,
                spec("<sip:1001@192.0.2.99>"),  # would be added ...
                spec("<sip:1001@192.0.2.10:5062>", 0),  # ... but this one is out of order
                cseq=cseq,
            )
        assert caught.value.status == 400
        assert await service.lookup(AOR) == before  # nothing of the request applied
        assert events.take() == []

    async def test_another_call_id_may_have_a_lower_cseq(self, service: LocationService) -> None:
        await register(service, spec("<sip:1001@192.0.2.10:5062>"), call_id="a", cseq=50)
        [binding] = await register(service, spec("<sip:1001@192.0.2.10:5062>"), call_id="b", cseq=1)
        assert (binding.call_id, binding.cseq) == ("b", 1)

    async def test_several_contacts_sorted_by_q_then_most_recent(
        self, service: LocationService, clock: FakeClock
    ) -> None:
        await register(service, spec("<sip:a@192.0.2.1>;q=0.5"), call_id="a")
        clock.advance(1)
        await register(service, spec("<sip:b@192.0.2.2>;q=0.5"), call_id="b")
        clock.advance(1)
        await register(service, spec("<sip:c@192.0.2.3>;q=0.9"), call_id="c")
        clock.advance(1)
        await register(service, spec("<sip:d@192.0.2.4>"), call_id="d")
        users = [binding.uri.user for binding in await service.lookup(AOR)]
        assert users == ["d", "c", "b", "a"]

    async def test_contact_uris_are_compared_as_uris(self, service: LocationService) -> None:
        await register(service, spec("<sip:1001@Phone.Example:5060;transport=udp>"))
        bindings = await register(
            service, spec("<sip:1001@phone.example:5060;transport=UDP;foo=bar>"), cseq=2
        )
        assert len(bindings) == 1

    async def test_instance_and_reg_id_replace_the_old_flow(
        self, service: LocationService, events: Events
    ) -> None:
        old_flow = FakeFlow(TransportKind.WSS)
        new_flow = FakeFlow(TransportKind.WSS)
        instance = '+sip.instance="<urn:uuid:00000000-0000-4000-8000-000000000001>"'
        await register(
            service,
            spec(f"<sip:aaa@aaa.invalid;transport=ws>;reg-id=1;{instance}", 90),
            source=RegistrationSource.from_flow(old_flow),
        )
        # JsSIP reconnected: new connection, new random Contact, same instance.
        [binding] = await register(
            service,
            spec(f"<sip:bbb@bbb.invalid;transport=ws>;reg-id=1;{instance}", 90),
            source=RegistrationSource.from_flow(new_flow),
            call_id="other",
        )
        assert binding.flow_token == new_flow.token
        assert binding.uri.user == "bbb"
        assert events.take() == [
            (BindingChange.ADDED, None, "sip:aaa@aaa.invalid;transport=ws"),
            (BindingChange.REMOVED, RemovalReason.REPLACED, "sip:aaa@aaa.invalid;transport=ws"),
            (BindingChange.ADDED, None, "sip:bbb@bbb.invalid;transport=ws"),
        ]
        # The old connection closing now takes nothing away.
        assert await service.flow_closed(old_flow.token) == []
        assert await service.lookup(AOR) == [binding]

    async def test_same_instance_other_reg_id_is_another_flow(
        self, service: LocationService
    ) -> None:
        instance = '+sip.instance="<urn:uuid:00000000-0000-4000-8000-000000000002>"'
        await register(service, spec(f"<sip:x@192.0.2.1;ob>;reg-id=1;{instance}"))
        bindings = await register(
            service, spec(f"<sip:x@192.0.2.1;ob>;reg-id=2;{instance}"), cseq=2
        )
        assert sorted(binding.reg_id or 0 for binding in bindings) == [1, 2]

    async def test_expires_zero_removes_one_binding(
        self, service: LocationService, events: Events
    ) -> None:
        await register(service, spec("<sip:a@192.0.2.1>"), spec("<sip:b@192.0.2.2>"))
        events.take()
        bindings = await register(service, spec("<sip:a@192.0.2.1>", 0), cseq=2)
        assert [binding.uri.user for binding in bindings] == ["b"]
        assert events.take() == [
            (BindingChange.REMOVED, RemovalReason.UNREGISTERED, "sip:a@192.0.2.1")
        ]
        # Removing what is not there is not an error.
        assert len(await register(service, spec("<sip:zz@192.0.2.9>", 0), cseq=3)) == 1

    async def test_unregister_all(self, service: LocationService, events: Events) -> None:
        await register(service, spec("<sip:a@192.0.2.1>"), call_id="a", cseq=5)
        await register(service, spec("<sip:b@192.0.2.2>"), call_id="b", cseq=5)
        events.take()
        with pytest.raises(OutOfOrderError):
            await service.unregister_all(AOR, call_id="a", cseq=5)
        assert len(await service.lookup(AOR)) == 2
        removed = await service.unregister_all(AOR, call_id="a", cseq=6)
        assert len(removed) == 2
        assert await service.lookup(AOR) == []
        assert {(change, reason) for change, reason, _ in events.take()} == {
            (BindingChange.REMOVED, RemovalReason.UNREGISTERED)
        }

    async def test_remove_aor(self, service: LocationService, events: Events) -> None:
        await register(service, spec("<sip:a@192.0.2.1>"))
        events.take()
        removed = await service.remove_aor(AOR, RemovalReason.EVICTED)
        assert len(removed) == 1
        assert events.take() == [(BindingChange.REMOVED, RemovalReason.EVICTED, "sip:a@192.0.2.1")]

    async def test_a_contact_listed_twice(self, service: LocationService) -> None:
        bindings = await register(
            service, spec("<sip:a@192.0.2.1>", 60), spec("<sip:a@192.0.2.1>", 120)
        )
        assert [binding.expires_at - binding.updated_at for binding in bindings] == [120]

    async def test_query_changes_nothing(self, service: LocationService, events: Events) -> None:
        await register(service, spec("<sip:a@192.0.2.1>"))
        events.take()
        assert len(await register(service, cseq=2)) == 1
        assert events.take() == []

    async def test_aors_are_separate(self, service: LocationService) -> None:
        await register(service, spec("<sip:a@192.0.2.1>"))
        await register(service, spec("<sip:b@192.0.2.1>"), aor="sip:1002@my-company.lo")
        assert [b.uri.user for b in await service.lookup(AOR)] == ["a"]
        assert [b.uri.user for b in await service.lookup("sip:1002@my-company.lo")] == ["b"]
        assert await service.lookup("sip:1003@my-company.lo") == []

    async def test_too_many_contacts_evicts_the_stalest(
        self, service: LocationService, clock: FakeClock, events: Events
    ) -> None:
        for n in range(5):
            await register(service, spec(f"<sip:p{n}@192.0.2.1>"), call_id=f"c{n}")
            clock.advance(1)
        # p0 is refreshed, so p1 is now the least recently refreshed one.
        await register(service, spec("<sip:p0@192.0.2.1>"), call_id="c0", cseq=2)
        events.take()
        bindings = await register(service, spec("<sip:p5@192.0.2.1>"), call_id="c5")
        assert sorted(b.uri.user or "" for b in bindings) == ["p0", "p2", "p3", "p4", "p5"]
        assert (BindingChange.REMOVED, RemovalReason.EVICTED, "sip:p1@192.0.2.1") in events.take()

    async def test_one_request_cannot_exceed_the_limit(self, service: LocationService) -> None:
        with pytest.raises(TooManyContactsError):
            await register(service, *(spec(f"<sip:p{n}@192.0.2.1>") for n in range(6)))
        assert await service.lookup(AOR) == []


class TestExpiry:
    async def test_expired_bindings_vanish_on_lookup(
        self, service: LocationService, clock: FakeClock, events: Events
    ) -> None:
        await register(service, spec("<sip:short@192.0.2.1>", 60), call_id="s")
        await register(service, spec("<sip:long@192.0.2.1>", 3600), call_id="l")
        events.take()
        clock.advance(59)
        assert len(await service.lookup(AOR)) == 2
        clock.advance(1)
        assert [b.uri.user for b in await service.lookup(AOR)] == ["long"]
        assert events.take() == [
            (BindingChange.REMOVED, RemovalReason.EXPIRED, "sip:short@192.0.2.1")
        ]
        assert await service.count() == 1

    async def test_an_expired_binding_is_added_again_not_refreshed(
        self, service: LocationService, clock: FakeClock, events: Events
    ) -> None:
        await register(service, spec("<sip:a@192.0.2.1>", 60))
        clock.advance(61)
        events.take()
        await register(service, spec("<sip:a@192.0.2.1>", 60), cseq=2)
        assert events.take() == [
            (BindingChange.REMOVED, RemovalReason.EXPIRED, "sip:a@192.0.2.1"),
            (BindingChange.ADDED, None, "sip:a@192.0.2.1"),
        ]

    async def test_sweep(self, service: LocationService, clock: FakeClock, events: Events) -> None:
        for n in range(3):
            await register(
                service, spec("<sip:a@192.0.2.1>", 60 * (n + 1)), aor=f"sip:{n}@my-company.lo"
            )
        events.take()
        clock.advance(120)
        removed = await service.sweep()
        assert sorted(binding.aor for binding in removed) == [
            "sip:0@my-company.lo",
            "sip:1@my-company.lo",
        ]
        assert [reason for _, reason, _ in events.take()] == [RemovalReason.EXPIRED] * 2
        assert await service.count() == 1
        assert await service.sweep() == []

    async def test_a_refreshed_binding_survives_the_sweep(
        self, service: LocationService, clock: FakeClock
    ) -> None:
        await register(service, spec("<sip:a@192.0.2.1>", 60))
        clock.advance(50)
        await register(service, spec("<sip:a@192.0.2.1>", 60), cseq=2)
        clock.advance(50)
        assert await service.sweep() == []
        assert len(await service.lookup(AOR)) == 1

    async def test_the_sweeper_runs_until_stopped(
        self, service: LocationService, clock: FakeClock, events: Events
    ) -> None:
        await register(service, spec("<sip:a@192.0.2.1>", 60))
        events.take()
        swept = asyncio.Event()
        service.add_listener(lambda event: swept.set())
        service.start(interval=0.01)
        with pytest.raises(RuntimeError):
            service.start()
        clock.advance(61)
        async with asyncio.timeout(5):
            await swept.wait()
        assert events.take() == [(BindingChange.REMOVED, RemovalReason.EXPIRED, "sip:a@192.0.2.1")]
        await service.stop()
        await register(service, spec("<sip:b@192.0.2.1>", 60))
        clock.advance(61)
        await asyncio.sleep(0.05)
        assert await service.count() == 1  # no sweeper any more
        await service.stop()  # idempotent


class TestFlows:
    async def test_closed_connection_removes_its_bindings_only(
        self, service: LocationService, events: Events
    ) -> None:
        ws = FakeFlow(TransportKind.WS)
        other_ws = FakeFlow(TransportKind.WS)
        udp = FakeFlow(TransportKind.UDP)
        await register(
            service,
            spec("<sip:ws@x.invalid;transport=ws>"),
            call_id="w",
            source=RegistrationSource.from_flow(ws),
        )
        await register(
            service,
            spec("<sip:ws2@y.invalid;transport=ws>"),
            call_id="w2",
            source=RegistrationSource.from_flow(other_ws),
        )
        await register(
            service,
            spec("<sip:udp@192.0.2.1>"),
            call_id="u",
            source=RegistrationSource.from_flow(udp),
        )
        await register(
            service,
            spec("<sip:ws@x.invalid;transport=ws>"),
            call_id="w",
            source=RegistrationSource.from_flow(ws),
            aor="sip:1002@my-company.lo",
        )
        events.take()
        removed = await service.flow_closed(ws.token)
        assert sorted(binding.aor for binding in removed) == [AOR, "sip:1002@my-company.lo"]
        assert sorted(b.uri.user or "" for b in await service.lookup(AOR)) == ["udp", "ws2"]
        assert await service.lookup("sip:1002@my-company.lo") == []
        assert [reason for _, reason, _ in events.take()] == [RemovalReason.FLOW_CLOSED] * 2

    async def test_attached_to_a_transport(self, service: LocationService, events: Events) -> None:
        transport = FakeTransport()
        service.attach(transport)
        with pytest.raises(RuntimeError):
            service.attach(transport)
        tcp = FakeFlow(TransportKind.TCP)
        udp = FakeFlow(TransportKind.UDP)
        await register(
            service,
            spec("<sip:t@192.0.2.1;transport=tcp>"),
            source=RegistrationSource.from_flow(tcp),
        )
        events.take()
        transport.close(udp)  # the layer never closes UDP flows; ignored if it did
        transport.close(tcp)
        await service.stop()  # waits for the removal under way, and detaches
        assert transport.handlers == []
        assert await service.lookup(AOR) == []
        assert events.take() == [
            (BindingChange.REMOVED, RemovalReason.FLOW_CLOSED, "sip:t@192.0.2.1;transport=tcp")
        ]

    async def test_with_a_real_transport_layer(self, clock: FakeClock) -> None:
        service = LocationService(clock=clock)
        inbox = Inbox()
        layer = TransportLayer(inbox)
        await layer.start([ListenerConfig(TransportKind.TCP, "127.0.0.1", 0)])
        service.attach(layer)
        try:
            address = layer.address(TransportKind.TCP)
            _, writer = await asyncio.open_connection(address.host, address.port)
            writer.write(sip_message(method="REGISTER"))
            _, flow = await inbox.get()
            await service.register(
                AOR,
                [spec("<sip:tcp@192.0.2.1;transport=tcp>")],
                call_id="t",
                cseq=1,
                source=RegistrationSource.from_flow(flow),
            )
            removed = asyncio.Event()
            service.add_listener(lambda event: removed.set())
            writer.close()
            async with asyncio.timeout(5):
                await removed.wait()
            assert await service.lookup(AOR) == []
        finally:
            await service.stop()
            await layer.stop()

    async def test_which_bindings_need_their_flow(self, service: LocationService) -> None:
        [plain] = await register(service, spec("<sip:a@192.0.2.1>"), call_id="1")
        [invalid] = await register(
            service, spec("<sip:b@abc.invalid>"), call_id="2", aor="sip:b@my-company.lo"
        )
        assert not plain.requires_flow and not plain.connection_bound
        assert invalid.requires_flow and not invalid.connection_bound


class TestListeners:
    async def test_a_failing_listener_does_not_stop_the_others(
        self, service: LocationService, events: Events, caplog: pytest.LogCaptureFixture
    ) -> None:
        def broken(event: BindingEvent) -> None:
            raise RuntimeError("boom")

        service.remove_listener(events)
        service.add_listener(broken)
        service.add_listener(events)
        with caplog.at_level(logging.ERROR, logger="callboard.sip.location"):
            await register(service, spec("<sip:a@192.0.2.1>"))
        assert len(events.events) == 1
        assert events.events[0].aor == AOR
        assert "binding listener failed" in caplog.text


class TestParsing:
    def test_normalize_aor(self) -> None:
        assert normalize_aor("sip:Alice@Example.COM;transport=tcp?x=y") == "sip:Alice@example.com"
        assert normalize_aor("sip:%61lice@example.com") == "sip:alice@example.com"

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ("", (1.0, None, None)),
            (";q=0.5", (0.5, None, None)),
            (";q=1.000", (1.0, None, None)),
            (";q=0", (0.0, None, None)),
            (';+sip.instance="<urn:uuid:1>";reg-id=3', (1.0, "<urn:uuid:1>", 3)),
        ],
    )
    def test_contact_params(
        self, params: str, expected: tuple[float, str | None, int | None]
    ) -> None:
        assert parse_contact_params(NameAddress.parse(f"<sip:a@b>{params}")) == expected

    @pytest.mark.parametrize(
        "params",
        [
            ";q=1.5",
            ";q=2",
            ";q=0.1234",
            ";q=abc",
            ";q",
            ";reg-id=0",
            ";reg-id=x",
            ";+sip.instance=bare",
            ';+sip.instance=""',
            ";reg-id=99999999999",
        ],
    )
    def test_bad_contact_params(self, params: str) -> None:
        with pytest.raises(SipParseError):
            parse_contact_params(NameAddress.parse(f"<sip:a@b>{params}"))

    def test_reg_id_only_when_outbound(self) -> None:
        contact = NameAddress.parse('<sip:a@b>;reg-id=1;+sip.instance="<urn:uuid:1>"')
        assert ContactSpec.from_contact(contact, 60, outbound=False).reg_id is None
        assert ContactSpec.from_contact(contact, 60).reg_id == 1


class TestMemoryStore:
    async def test_indexes(self, clock: FakeClock) -> None:
        store = MemoryLocationStore()
        service = LocationService(store, clock=clock)
        tcp = RegistrationSource(TransportKind.TCP, Address("192.0.2.1", 40000), "c-x")
        await register(service, spec("<sip:a@192.0.2.1>", 60), source=tcp)
        await register(service, spec("<sip:b@192.0.2.1>", 120), source=tcp, aor="sip:2@d")
        assert await store.aors_with_flow("c-x") == [AOR, "sip:2@d"]
        assert await store.aors_with_flow("c-y") == []
        assert await store.aors_expiring(clock.now + 59) == []
        assert await store.aors_expiring(clock.now + 60) == [AOR]
        await store.put(AOR, [])
        assert await store.aors_with_flow("c-x") == ["sip:2@d"]
        assert await store.count() == 1

    async def test_expiry_heap_stays_bounded(self, clock: FakeClock) -> None:
        store = MemoryLocationStore()
        service = LocationService(store, clock=clock)
        for cseq in range(1, 3000):
            await register(service, spec("<sip:a@192.0.2.1>"), cseq=cseq)
        assert len(store._expiry) <= 2 * 1 + 1024 + 1
