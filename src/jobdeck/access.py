"""Who may do what: the one permission policy of the API, the dashboard and the service's callers.

Any signed-in principal may read; a change (pause, trigger, edit, cancel …) needs the admin role. The API asks
through its ``AdminUser`` dependency, the dashboard through :func:`may` before an action, each answering a refusal
in its own way (an error envelope; a page or a JSON message).
"""

from __future__ import annotations

import enum

from jobdeck.errors import Forbidden
from jobdeck.models import Principal, Role

__all__ = ["Permission", "authorize", "may"]


class Permission(enum.StrEnum):
    """What a request wants to do."""

    READ = "read"
    """See jobs, runs, the audit trail and health."""
    OPERATE = "operate"
    """Change anything: pause, resume, trigger, edit metadata or schedule, cancel, mark failed, delete."""


_ROLES: dict[Permission, frozenset[Role]] = {
    Permission.READ: frozenset(Role),
    Permission.OPERATE: frozenset({Role.ADMIN}),
}


def may(principal: Principal | None, permission: Permission) -> bool:
    """Whether ``principal`` (None: nobody signed in) has ``permission``."""
    return principal is not None and principal.role in _ROLES[permission]


def authorize(principal: Principal, permission: Permission) -> Principal:
    """``principal`` itself when it has ``permission``.

    :raises Forbidden: it does not (the message names the user, its role and the role needed)
    """
    if not may(principal, permission):
        message = f"User {principal.username!r} is a {principal.role.value}; this action needs the admin role"
        raise Forbidden(message, actor=principal.username)
    return principal
