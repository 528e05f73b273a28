"""A revocation as the bus carries it, on one channel every process listens to: "revoked 4,9".
Each process forgets those credentials and closes their sockets (the lifespan wires it)."""

CHANNEL = "credentials"
PREFIX = "revoked "


def message(credential_ids: list[int]) -> str:
    """The bus message that revokes these credentials."""
    return PREFIX + ",".join(str(i) for i in credential_ids)


def parse(text: str) -> list[int]:
    """The credential ids a bus message revokes (none for a message not of this kind)."""
    if not text.startswith(PREFIX):
        return []
    try:
        return [int(part) for part in text[len(PREFIX) :].split(",") if part]
    except ValueError:
        return []
