"""The running node: settings, the database and the services every surface calls."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from callboard.callcenter.agents import AgentService
from callboard.calls.control import CallControl
from callboard.config import Settings
from callboard.directory.auth import Authenticator, AuthLimits
from callboard.directory.devices import DeviceService
from callboard.directory.domains import DomainService
from callboard.directory.events import DirectoryChanged
from callboard.directory.licenses import LicenseService
from callboard.directory.roles import RoleService
from callboard.directory.telephony import DirectoryView
from callboard.directory.tokens import TokenService
from callboard.directory.trunks import TrunkService
from callboard.directory.users import UserService
from callboard.events.bus import EventBus
from callboard.realtime.hub import Hub
from callboard.realtime.live import LiveCalls
from callboard.security.secretbox import SecretBox
from callboard.store.database import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    auth: Authenticator
    domains: DomainService
    users: UserService
    devices: DeviceService
    tokens: TokenService
    roles: RoleService
    licenses: LicenseService
    trunks: TrunkService
    agents: AgentService
    bus: EventBus
    directory: DirectoryView
    secrets: SecretBox
    hub: Hub
    live: LiveCalls
    node_id: str = field(default_factory=lambda: f"callboard-{secrets.token_hex(4)}")
    #: Where web phones register (the SIP WebSocket listener), once SIP is up.
    web_phone_url: str | None = None
    #: Call control, once SIP is up.
    calls: CallControl | None = None

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        db = Database(settings.effective_database_url)
        bus = EventBus()
        if settings.secret_key is not None:
            box = SecretBox.from_key_text(settings.secret_key.get_secret_value())
        else:
            box = SecretBox.load_or_create(settings.data_dir / "secret.key")
        directory = DirectoryView(db, box)
        db.publish = bus.publish
        bus.subscribe(DirectoryChanged, lambda _event: directory.invalidate())
        limits = AuthLimits(
            failures_per_account=settings.login_failures_per_account,
            failures_per_source=settings.login_failures_per_source,
            window_seconds=settings.auth_failure_window_seconds,
            session_ttl_seconds=settings.session_ttl_seconds,
        )
        return cls(
            settings=settings,
            db=db,
            auth=Authenticator(db, limits, settings.domain),
            domains=DomainService(db),
            users=UserService(db),
            devices=DeviceService(db),
            tokens=TokenService(db),
            roles=RoleService(db),
            licenses=LicenseService(db),
            trunks=TrunkService(db, box),
            agents=AgentService(db),
            bus=bus,
            directory=directory,
            secrets=box,
            hub=Hub(bus),
            live=LiveCalls(bus),
        )
