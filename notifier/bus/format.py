"""The bus message format and its version: what lets processes of two releases share one Redis
during a rolling restart.

Every bus message (an event on `community:{id}`, a revocation, a routine test's app check) is
a body behind a version token: `v2 <body>`. Version 1 is the format of the releases before
versions, with no token (its bodies start with a digit, `revoked ` or `{`, never `v<digit>`),
so a message without one is read as version 1.

- 1: the body alone.
- 2: `v2 ` and the same body.

The rule: a process of format version N reads N-1 and N (READS), and writes the version its
setting names (TENWATCH_BUS_FORMAT, one of READS). A change of format ships in two releases:
the first reads both and still writes the old one by default; once every process runs it,
the operator flips the setting (or the next release makes the new one the default). A message
of a version a process cannot read (newer than it: someone skipped a release) is not guessed
at: the hub logs it once and reads that community's events from the store at once.
"""

NEWEST = 2
"""The newest format this code reads and can write."""
READS = frozenset({NEWEST - 1, NEWEST})
"""The formats this code reads: its own and the one before."""
WRITES = NEWEST - 1
"""The format written unless the setting says otherwise: the older one of READS, since this is
the first release that reads NEWEST (a process of the release before reads only version 1)."""


def write(body: str, *, version: int) -> str:
    """A message body as the bus carries it in format `version`."""
    if version not in READS:
        raise ValueError(f"bus format {version} is not one this code writes: {sorted(READS)}")
    return body if version == 1 else f"v{version} {body}"


def read(message: str) -> tuple[int, str]:
    """A bus message's format version and its body (the body is only meaningful when the
    version is one of READS)."""
    if message[:1] == "v":
        token, _, body = message.partition(" ")
        digits = token[1:]
        if 0 < len(digits) <= 6 and digits.isascii() and digits.isdigit():
            return int(digits), body
    return 1, message
