"""The running node: settings, the database and the services every surface calls."""

from __future__ import annotations

from dataclasses import dataclass

from callboard.config import Settings
from callboard.directory.auth import Authenticator, AuthLimits
from callboard.directory.devices import DeviceService
from callboard.directory.domains import DomainService
from callboard.directory.licenses import LicenseService
from callboard.directory.roles import RoleService
from callboard.directory.telephony import DirectoryView
from callboard.directory.tokens import TokenService
from callboard.directory.trunks import TrunkService
from callboard.directory.users import UserService
from callboard.events.bus import EventBus
from callboard.security.secretbox import SecretBox
from callboard.store.database import Database


@dataclass(frozen=True, slots=True)
class DirectoryChanged:
    """Devices, users or trunks of these domains changed."""

    domain_ids: frozenset[int]


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
    bus: EventBus
    directory: DirectoryView
    secrets: SecretBox

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        db = Database(settings.effective_database_url)
        bus = EventBus()
        if settings.secret_key is not None:
            secrets = SecretBox.from_key_text(settings.secret_key.get_secret_value())
        else:
            secrets = SecretBox.load_or_create(settings.data_dir / "secret.key")
        directory = DirectoryView(db, secrets)

        def directory_changed(domain_ids: frozenset[int]) -> None:
            directory.invalidate()
            bus.publish(DirectoryChanged(domain_ids))

        db.on_directory_change = directory_changed
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
            trunks=TrunkService(db, secrets),
            bus=bus,
            directory=directory,
            secrets=secrets,
        )
