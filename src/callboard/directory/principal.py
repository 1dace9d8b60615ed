"""Who is calling: the authenticated user behind a request or a connection."""

from __future__ import annotations

from dataclasses import dataclass

from callboard.directory.permissions import ADMIN_ROLE_ID, Permission
from callboard.errors import PermissionDenied


@dataclass(frozen=True)
class Principal:
    user_id: int
    domain_id: int
    domain_name: str
    username: str
    name: str
    extension: str | None
    is_root: bool
    role_ids: tuple[int, ...]
    permissions: frozenset[Permission]
    token_id: str
    token: str
    expires_at: int | None
    licensed: bool

    @property
    def is_admin(self) -> bool:
        return self.is_root or ADMIN_ROLE_ID in self.role_ids

    def can(self, permission: Permission) -> bool:
        return self.is_root or permission in self.permissions

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"permission {permission.value!r} is required")

    def require_root(self) -> None:
        if not self.is_root:
            raise PermissionDenied("only the root administrator can do this")
