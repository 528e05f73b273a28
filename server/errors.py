"""The one family of refusals: each says, in a sentence for the person, why a request can't be
done, and carries the HTTP status it maps to. The web maps them in one handler; the phone turns
them into a spoken or texted reply. Nothing here knows HTTP beyond the status number.

A database that can't be reached is a refusal too (`Unavailable`), not a bug: `database_away`
tells the one from the other, for the web's handler and for readiness."""

from sqlalchemy import exc as sa_exc

from server import words


class Refusal(Exception):
    """A request that can't be done as asked; `str()` is the sentence the person reads.

    The sentence is an English template with `{name}`s filled from values; the wording
    catalogue (server/words/errors.json) holds it in Chinese too, and `say` gives it in the
    person's language."""

    status = 400

    def __init__(self, sentence: str, **values: object) -> None:
        self.template = sentence
        self.values = values
        self.sentence = sentence.format(**values) if values else sentence
        super().__init__(self.sentence)

    def say(self, language: str) -> str:
        """The sentence in `language` (the English when the catalogue lacks it)."""
        return words.refusal(self.template, language=language, **self.values)


class Malformed(Refusal):
    """The request lacks what it must carry (a webhook's field)."""

    status = 400


class Unauthenticated(Refusal):
    """No credential, or one that speaks for nobody."""

    status = 401


class Forbidden(Refusal):
    """The principal may not do this."""

    status = 403


class NotFound(Refusal):
    """No such thing in the principal's scope."""

    status = 404


class Conflict(Refusal):
    """The thing's state does not allow this step (an alarm already taken, already closed)."""

    status = 409


class Invalid(Refusal):
    """The request names something that can't be (an unknown type, a missing household)."""

    status = 422


class TooMany(Refusal):
    """Too many wrong tries of a secret (a PIN): locked out for a while; the sentence says when
    to try again, and retry_after in how many seconds."""

    status = 429

    def __init__(self, sentence: str, *, retry_after: int = 60, **values: object) -> None:
        super().__init__(sentence, **values)
        self.retry_after = retry_after


class Unavailable(Refusal):
    """A part the request needs is away for now; the client retries (an alarm falls back to the
    phone)."""

    status = 503


# SQLSTATEs that mean the server is not there for us now, whatever the statement: class 08
# (connection exception), 57P01–57P03 (shut down by an administrator, crashed, starting up or
# shutting down), 53300 (too many connections).
_AWAY_STATES = ("08", "57P01", "57P02", "57P03", "53300")

PRESS_NOT_STORED = (
    "The alarm may not have been stored: the service cannot reach its database just now. "
    "Press again (a repeat never raises a second alarm), or call your group's alarm number."
)
DATABASE_AWAY = "The service cannot reach its database just now; try again in a moment."


def database_away(exc: BaseException) -> str | None:
    """Why the database can't be reached, in a few words without credentials, when that is what
    exc says (a lost or refused connection, a server shutting down or starting up, no pooled
    connection free in time); None for any other error, which stays a bug."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "no database connection came free in time (the pool's limit was reached)"
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig: BaseException = exc.orig if exc.orig is not None else exc
    cause = orig.__cause__ or orig
    state = getattr(orig, "sqlstate", None) or ""
    if exc.connection_invalidated or isinstance(cause, OSError) or state.startswith(_AWAY_STATES):
        return in_brief(cause)
    return None


def in_brief(exc: BaseException) -> str:
    """An exception as its type and the first line of its message (no statement, no link)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
