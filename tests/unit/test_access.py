"""The one permission policy: anyone signed in reads, only an admin changes things; nobody signed in does neither."""

from __future__ import annotations

import pytest

from jobdeck.access import Permission, authorize, may
from jobdeck.errors import Forbidden
from jobdeck.models import Principal, Role

VIEWER = Principal(username="vera", role=Role.VIEWER)
ADMIN = Principal(username="ada", role=Role.ADMIN)


@pytest.mark.parametrize(
    ("principal", "permission", "allowed"),
    [
        (VIEWER, Permission.READ, True),
        (VIEWER, Permission.OPERATE, False),
        (ADMIN, Permission.READ, True),
        (ADMIN, Permission.OPERATE, True),
        (None, Permission.READ, False),
        (None, Permission.OPERATE, False),
    ],
)
def test_may(principal: Principal | None, permission: Permission, allowed: bool) -> None:
    assert may(principal, permission) is allowed


def test_authorize_returns_the_principal_it_allows() -> None:
    assert authorize(ADMIN, Permission.OPERATE) is ADMIN


def test_viewer_cannot_operate_and_the_refusal_names_them() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(VIEWER, Permission.OPERATE)
    assert refused.value.actor == "vera"
    assert refused.value.message == "User 'vera' is a viewer; this action needs the admin role"
