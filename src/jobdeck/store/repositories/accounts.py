"""Users, API tokens, revoked sign-ins and jobdeck's own settings: what auth stands on."""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import delete, func, select, update

from jobdeck.errors import TokenNotFound, UserExists, UserNotFound
from jobdeck.models import ApiToken, Role, User
from jobdeck.store import _rows
from jobdeck.store._shared_read import SharedRead
from jobdeck.store.database import Database
from jobdeck.store.schema import api_tokens, revoked_tokens, settings, users

__all__ = ["Accounts"]

_MAX_SHARED_USER_READS = 1000


class Accounts:
    """The ``users``, ``api_tokens``, ``revoked_tokens`` and ``settings`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Every signed-in request reads its user: concurrent callers for one user share one query.
        self._user_reads: dict[str, SharedRead] = {}

    async def create_user(self, user: User) -> None:
        stmt = (
            self._db.insert(users)
            .values(_rows.user_values(user))
            .on_conflict_do_nothing(index_elements=[users.c.username])
            .returning(users.c.username)
        )
        async with self._db.tx(write=True) as conn:
            created = (await conn.execute(stmt)).first() is not None
        if not created:
            raise UserExists(user.username)

    async def get_user(self, username: str) -> User:
        read = self._user_reads.get(username)
        if read is None:
            if len(self._user_reads) >= _MAX_SHARED_USER_READS:
                self._user_reads.clear()
            read = self._user_reads[username] = SharedRead(functools.partial(self._read_user, username))
        user: User = await read()
        return user

    async def _read_user(self, username: str) -> User:
        async with self._db.tx() as conn:
            row = (await conn.execute(select(users).where(users.c.username == username))).mappings().first()
        if row is None:
            raise UserNotFound(username)
        return _rows.to_user(row)

    async def list_users(self) -> list[User]:
        async with self._db.tx() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.username))).mappings()
            return [_rows.to_user(r) for r in rows]

    async def count_users(self) -> int:
        async with self._db.tx() as conn:
            return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())

    async def _update_user(self, username: str, **values: object) -> None:
        async with self._db.tx(write=True) as conn:
            result = await conn.execute(update(users).where(users.c.username == username).values(**values))
        if result.rowcount == 0:
            raise UserNotFound(username)

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        await self._update_user(username, password_hash=password_hash)

    async def set_user_role(self, username: str, role: Role) -> int:
        return await self._revoking_update(username, role=role.value)

    async def set_user_disabled(self, username: str, disabled: bool) -> int:
        return await self._revoking_update(username, disabled=disabled)

    async def bump_token_version(self, username: str) -> int:
        return await self._revoking_update(username)

    async def revoke_access_token(self, jti: str, *, username: str, expires_at: datetime, now: datetime) -> None:
        insert = (
            self._db.insert(revoked_tokens)
            .values(jti=jti, username=username, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=[revoked_tokens.c.jti])
        )
        async with self._db.tx(write=True) as conn:
            # Rows of tokens expired anyway are of no use: sign-outs clear them, so the table stays small.
            await conn.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < now))
            await conn.execute(insert)

    async def revoked_access_tokens(self, username: str) -> frozenset[str]:
        stmt = select(revoked_tokens.c.jti).where(revoked_tokens.c.username == username)
        async with self._db.tx() as conn:
            return frozenset(str(jti) for jti in (await conn.execute(stmt)).scalars())

    async def _revoking_update(self, username: str, **values: object) -> int:
        stmt = (
            update(users)
            .where(users.c.username == username)
            .values(token_version=users.c.token_version + 1, **values)
            .returning(users.c.token_version)
        )
        async with self._db.tx(write=True) as conn:
            version = (await conn.execute(stmt)).scalar()
        if version is None:
            raise UserNotFound(username)
        return int(version)

    async def create_token(self, token: ApiToken) -> None:
        async with self._db.tx(write=True) as conn:
            await conn.execute(api_tokens.insert().values(_rows.token_values(token)))

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        stmt = select(api_tokens).where(api_tokens.c.token_hash == token_hash)
        async with self._db.tx() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return None if row is None else _rows.to_token(row)

    async def list_tokens(self) -> list[ApiToken]:
        stmt = select(api_tokens).order_by(api_tokens.c.created_at.desc(), api_tokens.c.id.desc())
        async with self._db.tx() as conn:
            return [_rows.to_token(r) for r in (await conn.execute(stmt)).mappings()]

    async def revoke_token(self, token_id: str, *, at: datetime) -> None:
        # Revoking twice keeps the first revocation time.
        stmt = (
            update(api_tokens)
            .where(api_tokens.c.id == token_id)
            .values(revoked_at=func.coalesce(api_tokens.c.revoked_at, at))
        )
        async with self._db.tx(write=True) as conn:
            result = await conn.execute(stmt)
        if result.rowcount == 0:
            raise TokenNotFound(token_id)

    async def touch_token(self, token_id: str, *, at: datetime) -> None:
        async with self._db.tx(write=True) as conn:
            await conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=at))

    async def set_setting_if_absent(self, key: str, value: str) -> str:
        # Insert-or-ignore, then read back in the same transaction: whoever inserted first wins, everyone reads it.
        insert = (
            self._db.insert(settings)
            .values(key=key, value=value)
            .on_conflict_do_nothing(index_elements=[settings.c.key])
        )
        async with self._db.tx(write=True) as conn:
            await conn.execute(insert)
            stored = (await conn.execute(select(settings.c.value).where(settings.c.key == key))).scalar_one()
        return str(stored)
