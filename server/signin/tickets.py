"""One-time stream tickets: a client that can send neither the cookie nor a header with its
websocket asks for one (authenticated) and opens `/ws?ticket=…` within seconds; the ticket
works once."""

import secrets
from datetime import datetime, timedelta

from sqlalchemy import update

from server.accounts import digest
from server.signin.models import StreamTicket
from storage.db import AsyncSession

PREFIX = "twt_"


async def issue(session: AsyncSession, *, credential_id: int, seconds: float, now: datetime) -> str:
    """A ticket for the credential's principal, valid once for `seconds`."""
    ticket = PREFIX + secrets.token_urlsafe(24)
    session.add(
        StreamTicket(
            ticket_hash=digest(ticket),
            credential_id=credential_id,
            expires_at=now + timedelta(seconds=seconds),
        )
    )
    await session.flush()
    return ticket


async def redeem(session: AsyncSession, *, ticket: str, now: datetime) -> int | None:
    """The credential a ticket was issued for, spending it; None if unknown, used or ended."""
    if not ticket.startswith(PREFIX) or len(ticket) > 100:
        return None
    found = await session.scalars(
        update(StreamTicket)
        .where(
            StreamTicket.ticket_hash == digest(ticket),
            StreamTicket.used_at.is_(None),
            StreamTicket.expires_at > now,
        )
        .values(used_at=now)
        .returning(StreamTicket.credential_id)
    )
    return found.first()
