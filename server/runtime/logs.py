"""The process's logs: one format for every line, readable by default or JSON, never a secret.

Every line goes through structlog's `ProcessorFormatter` on one handler of the root logger: our
`logging.getLogger(__name__)` records (their `extra=` keys become fields), uvicorn's,
SQLAlchemy's and aiomqtt's alike, and structlog's own loggers. Each line carries the time (UTC),
the level, the logger, the request id of the request it was written in (bound by
`server.web.access`), and its fields; `redact` runs last of all, so a phone number or a secret
that reached a message is masked before the line is written (docs/operate.md, "Logs").

`config` is one `logging.config.dictConfig` dict: `tenwatch serve` applies it before migrating
and hands it to uvicorn, which applies it again in each worker process it starts.
"""

import functools
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

Output = Literal["text", "json"]
Level = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

MASK = "***"

SECRET_KEYS = frozenset(
    {
        "authorization",
        "auth",
        "code",
        "cookie",
        "credential",
        "otp",
        "passwd",
        "password",
        "pin",
        "secret",
        "set_cookie",
        "ticket",
        "token",
    }
)
"""Fields whose value is never written: these names, and any name ending in `_` and one of them
(`auth_token`, `duress_pin`, `session_cookie`; `error_code` and `status_code` are not secrets)."""

_ENDINGS = tuple(f"_{key}" for key in SECRET_KEYS - {"code", "auth"})

_SECRETS = re.compile(
    r"(?P<phone>(?<![\w+%])(?:(?:\+|%2B)\d{7,15}|(?:86)?1[3-9]\d{9})(?!\w))"
    r"|\b(?P<name>(?:\w*_)?(?:token|ticket|code|pin|secret|password|signature|auth|key))"
    r"=[^&\s\"',;]+"
    r"|\b(?P<scheme>Bearer|Basic)\s+[\w.~+/=-]+",
    re.IGNORECASE,
)
"""What is hidden in any text, in one pass: an E.164 number (+ or its URL form %2B, then
digits) or a bare Chinese mobile (11 digits, with or without 86), not inside a longer word or
number (a provider's id, a timestamp); `name=value` of a secret (a query string uvicorn or a
library printed); a bearer or basic credential."""

_OURS = frozenset({"timestamp", "level", "logger"})
"""Fields the processors themselves add, which hold nothing to hide."""

_PLAIN = (int, float, bool, type(None))


def mask_phone(phone: str) -> str:
    """A phone number as logs show it: +86139****9999 (the country, network and last four)."""
    if len(phone) > 10:
        return phone[:-8] + "****" + phone[-4:]
    return phone[:2] + "****"


def _hide(match: re.Match[str]) -> str:
    if match["phone"]:
        return mask_phone(match["phone"])
    if match["name"]:
        return f"{match['name']}={MASK}"
    return f"{match['scheme']} {MASK}"


def scrub(text: str) -> str:
    """text with phone numbers masked and `name=secret`, `Bearer secret` hidden."""
    return _SECRETS.sub(_hide, text)


@functools.lru_cache(maxsize=1024)
def secret_key(key: str) -> bool:
    """Whether a field of this name holds a secret (see SECRET_KEYS)."""
    name = key.lower().replace("-", "_")
    return name in SECRET_KEYS or name.endswith(_ENDINGS)


def _clean(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: MASK if secret_key(str(k)) else _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    return value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """The last processor before rendering: secret fields as ***, phones masked, secrets in
    messages and tracebacks hidden; what is neither a string nor a container is left alone."""
    return {
        key: value if key in _OURS else MASK if secret_key(key) else _clean(value)
        for key, value in event_dict.items()
    }


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """uvicorn gives some records a coloured copy of their message as an extra: not a field."""
    event_dict.pop("color_message", None)
    return event_dict


_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter(*, output: Output = "text", colors: bool | None = None) -> logging.Formatter:
    """The formatter of every line (and, once per process, structlog's own configuration, so
    `structlog.get_logger()` writes through the same handler): JSON objects, one a line, or
    structlog's console lines, coloured when stderr is a terminal."""
    _configure_structlog()
    renderer: Processor
    if output == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False, default=str)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty() if colors is None else colors,
            # Never rich's tracebacks: they print local variables, and a local may be a secret.
            exception_formatter=structlog.dev.plain_traceback,
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )


def _configure_structlog() -> None:
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


QUIET = ("twilio", "httpx", "httpcore", "storage.pool")
"""Libraries heard from WARNING up only, whatever the level: at INFO Twilio's client writes a
dozen lines a text (its headers), httpx every URL it fetches, query string and all, and
SQLAlchemy's pool ("Pool disposed", "Pool recreating" at each migration) under the name of its
class, which is storage.pool's."""


def config(*, output: Output, level: Level) -> dict[str, Any]:
    """The process's logging as a `dictConfig` dict: one handler on stderr for the root logger,
    uvicorn's loggers sent to it, uvicorn's access log off (the access middleware writes one
    line a request, without the query string, which may hold a one-time ticket)."""
    through_root = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"tenwatch": {"()": f"{__name__}.formatter", "output": output}},
        "handlers": {
            "tenwatch": {
                "class": "logging.StreamHandler",
                "formatter": "tenwatch",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["tenwatch"], "level": level},
        "loggers": {
            "uvicorn": through_root,
            "uvicorn.error": through_root,
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            **{name: {"level": "WARNING"} for name in QUIET},
        },
    }
