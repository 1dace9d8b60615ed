"""The relational schema.

Timestamps are milliseconds since the epoch, as the Webitel API shows them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Domain(Base):
    """A tenant. Its name (`my-company.lo`) is also the SIP realm of its devices."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class Role(Base):
    """A named set of permissions; system roles have no domain and fixed ids."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)

    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_roles_domain_name"),)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    username: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    extension: Mapped[str | None] = mapped_column(String(32))
    is_root: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL", use_alter=True)
    )
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    roles: Mapped[list[Role]] = relationship(secondary="user_roles", lazy="raise")
    licenses: Mapped[list[License]] = relationship(secondary="user_licenses", lazy="raise")
    devices: Mapped[list[Device]] = relationship(
        foreign_keys="Device.user_id", back_populates="user", lazy="raise", order_by="Device.id"
    )
    default_device: Mapped[Device | None] = relationship(
        foreign_keys=[default_device_id], lazy="raise", post_update=True
    )
    created_by: Mapped[User | None] = relationship(
        foreign_keys=[created_by_id], remote_side=[id], lazy="raise"
    )
    updated_by: Mapped[User | None] = relationship(
        foreign_keys=[updated_by_id], remote_side=[id], lazy="raise"
    )

    __table_args__ = (
        UniqueConstraint("domain_id", "username", name="uq_users_domain_username"),
        UniqueConstraint("domain_id", "extension", name="uq_users_domain_extension"),
    )


class Device(Base):
    """A SIP account. Only the digest HA1 values are kept, never the plain password."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    account: Mapped[str] = mapped_column(String(100))
    ha1_md5: Mapped[str] = mapped_column(String(32))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    brand: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    mac: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    hotdesk: Mapped[bool] = mapped_column(Boolean, default=False)
    logged_in: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User | None] = relationship(
        foreign_keys=[user_id], back_populates="devices", lazy="raise"
    )
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="raise")
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id], lazy="raise")

    __table_args__ = (UniqueConstraint("domain_id", "account", name="uq_devices_domain_account"),)


class License(Base):
    """A product license of a domain: a number of seats until an expiry time."""

    __tablename__ = "licenses"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(64))
    seats: Mapped[int] = mapped_column(Integer)
    scope: Mapped[list[str]] = mapped_column(JSON, default=list)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class UserLicense(Base):
    __tablename__ = "user_licenses"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    license_id: Mapped[str] = mapped_column(
        ForeignKey("licenses.id", ondelete="CASCADE"), primary_key=True
    )


class AccessToken(Base):
    """An integration or session token. Only a SHA-256 of the token is stored."""

    __tablename__ = "access_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    usage: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="raise")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="raise")
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id], lazy="raise")

    __table_args__ = (Index("ix_access_tokens_user", "user_id"),)


class Trunk(Base):
    """A provider gateway: where calls to numbers go out, and where DID calls come in."""

    __tablename__ = "trunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int | None] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8), default="udp")
    username: Mapped[str | None] = mapped_column(String(100))
    secret: Mapped[str | None] = mapped_column(String(500))
    registration: Mapped[bool] = mapped_column(Boolean, default=False)
    register_expires: Mapped[int] = mapped_column(Integer, default=600)
    caller_id: Mapped[str | None] = mapped_column(String(64))
    outbound_pattern: Mapped[str] = mapped_column(String(200), default="^\\+?[0-9]{3,}$")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    numbers: Mapped[list[TrunkNumber]] = relationship(
        back_populates="trunk",
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="TrunkNumber.id",
    )

    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_trunks_domain_name"),)


class TrunkNumber(Base):
    """An inbound number (DID) of a trunk, and the user its calls reach."""

    __tablename__ = "trunk_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    trunk_id: Mapped[int] = mapped_column(ForeignKey("trunks.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    trunk: Mapped[Trunk] = relationship(back_populates="numbers", lazy="raise")

    __table_args__ = (
        UniqueConstraint("domain_id", "number", name="uq_trunk_numbers_domain_number"),
    )


class CallRecord(Base):
    """One finished leg of a call: the call history."""

    __tablename__ = "call_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(36))
    parent_id: Mapped[str | None] = mapped_column(String(36))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(16))
    from_number: Mapped[str] = mapped_column(String(128))
    from_name: Mapped[str] = mapped_column(String(200), default="")
    from_type: Mapped[str] = mapped_column(String(16))
    from_user_id: Mapped[int | None] = mapped_column(Integer)
    to_number: Mapped[str] = mapped_column(String(128))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    to_type: Mapped[str] = mapped_column(String(16))
    to_user_id: Mapped[int | None] = mapped_column(Integer)
    destination: Mapped[str] = mapped_column(String(128))
    sip_call_id: Mapped[str] = mapped_column(String(255))
    trunk_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    answered_at: Mapped[int | None] = mapped_column(BigInteger)
    bridged_at: Mapped[int | None] = mapped_column(BigInteger)
    hangup_at: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[int] = mapped_column(Integer)
    bill_sec: Mapped[int] = mapped_column(Integer)
    hold_sec: Mapped[int] = mapped_column(Integer, default=0)
    cause: Mapped[str] = mapped_column(String(64))
    sip_code: Mapped[int] = mapped_column(Integer)
    hangup_by: Mapped[str] = mapped_column(String(16))
    transfer_to: Mapped[str | None] = mapped_column(String(128))
    variables: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_call_records_domain_created", "domain_id", "created_at"),
        Index("ix_call_records_user_created", "user_id", "created_at"),
        Index("ix_call_records_call", "call_id"),
    )


class Agent(Base):
    """A contact-centre agent: one per user, with the status queues will route on.

    `channels` are the channels the agent works on when online (set by the last going
    online; the channel kinds of `allow_channels` until then). Live channel states
    (offering, wrap time...) come with queues and are kept in memory, not here.
    """

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="offline")
    status_payload: Mapped[str | None] = mapped_column(String(200))
    status_comment: Mapped[str | None] = mapped_column(String(500))
    last_status_change: Mapped[int] = mapped_column(BigInteger)
    on_demand: Mapped[bool] = mapped_column(Boolean, default=False)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    allow_channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_supervisor: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(500), default="")
    progressive_count: Mapped[int] = mapped_column(Integer, default=1)
    chat_count: Mapped[int] = mapped_column(Integer, default=1)
    task_count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="raise")
    supervisors: Mapped[list[Agent]] = relationship(
        secondary="agent_supervisors",
        primaryjoin="Agent.id == AgentSupervisor.agent_id",
        secondaryjoin="Agent.id == AgentSupervisor.supervisor_id",
        lazy="raise",
        order_by="Agent.id",
    )
    auditors: Mapped[list[User]] = relationship(
        secondary="agent_auditors", lazy="raise", order_by="User.id"
    )
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="raise")
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id], lazy="raise")

    __table_args__ = (Index("ix_agents_domain_status", "domain_id", "status"),)


class AgentSupervisor(Base):
    """An agent's supervisor: another agent of the domain with `is_supervisor`."""

    __tablename__ = "agent_supervisors"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    supervisor_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )


class AgentAuditor(Base):
    """A user who audits (reviews the work of) an agent."""

    __tablename__ = "agent_auditors"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
