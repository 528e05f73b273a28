"""The one family of refusals: each says, in a sentence for the person, why a request can't be
done, and carries the HTTP status it maps to. The web maps them in one handler; the phone turns
them into a spoken or texted reply. Nothing here knows HTTP beyond the status number."""


class Refusal(Exception):
    """A request that can't be done as asked; `str()` is the sentence the person reads."""

    status = 400

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


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


class Unavailable(Refusal):
    """A part the request needs is away for now; the client retries (an alarm falls back to the
    phone)."""

    status = 503
