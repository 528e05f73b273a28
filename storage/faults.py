"""Which database errors mean "the database cannot be reached now" (retry, or answer 503) rather
than a mistake in a statement (a bug: let it surface)."""

import sqlalchemy.exc

_AWAY = (
    sqlalchemy.exc.OperationalError,  # connection refused or lost, server shutting down, locked
    sqlalchemy.exc.InterfaceError,  # the connection is closed
    sqlalchemy.exc.TimeoutError,  # no connection from the pool in time
    OSError,  # raised by a driver before SQLAlchemy wraps it (connect refused, reset)
    TimeoutError,
)


def unreachable(exc: BaseException) -> bool:
    """Whether exc says the database is away (or its connection was lost), not that a
    statement was wrong."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _AWAY)
