"""Roles and the permissions they grant.

The four system roles have fixed ids (1 admin, 2 supervisor, 3 agent, 4 user), the same in
every domain, so provisioning scripts can name them by id as seed 000 does. Their
permissions live here rather than in the database, so an upgrade can change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    DEVICES_READ = "devices:read"
    DEVICES_WRITE = "devices:write"
    TOKENS_WRITE = "tokens:write"
    ROLES_READ = "roles:read"
    ROLES_WRITE = "roles:write"
    LICENSES_READ = "licenses:read"
    LICENSES_ASSIGN = "licenses:assign"
    CALLS_READ = "calls:read"
    CALLS_CONTROL = "calls:control"
    AGENTS_READ = "agents:read"
    AGENTS_WRITE = "agents:write"


ALL_PERMISSIONS = frozenset(Permission)


@dataclass(frozen=True)
class SystemRole:
    id: int
    name: str
    description: str
    permissions: frozenset[Permission]


ADMIN_ROLE_ID = 1
USER_ROLE_ID = 4

SYSTEM_ROLES = (
    SystemRole(ADMIN_ROLE_ID, "admin", "Domain administrator", ALL_PERMISSIONS),
    SystemRole(
        2,
        "supervisor",
        "Supervises agents and calls",
        frozenset(
            {
                Permission.USERS_READ,
                Permission.DEVICES_READ,
                Permission.ROLES_READ,
                Permission.LICENSES_READ,
                Permission.CALLS_READ,
                Permission.CALLS_CONTROL,
                Permission.AGENTS_READ,
                Permission.AGENTS_WRITE,
            }
        ),
    ),
    SystemRole(3, "agent", "Contact-centre agent", frozenset({Permission.ROLES_READ})),
    SystemRole(USER_ROLE_ID, "user", "Makes and takes calls", frozenset({Permission.ROLES_READ})),
)

SYSTEM_ROLE_IDS = frozenset(role.id for role in SYSTEM_ROLES)
_BY_ID = {role.id: role for role in SYSTEM_ROLES}


def permissions_of(role_id: int, stored: list[str]) -> frozenset[Permission]:
    """The permissions of a role: the code's for system roles, the stored list otherwise."""
    system = _BY_ID.get(role_id)
    if system is not None:
        return system.permissions
    return frozenset(Permission(p) for p in stored if p in ALL_PERMISSIONS)


def description_of(role_id: int, stored: str) -> str:
    system = _BY_ID.get(role_id)
    return system.description if system is not None else stored
