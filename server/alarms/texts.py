"""What the phones are told, in Chinese and English: alarms, escalations and the all-clear."""

import functools
from typing import Literal

from server import words

Kind = Literal[
    "alarm",
    "patrol",
    "widened",
    "escalated",
    "confirmed",
    "duress",
    "police",
    "all_clear",
    "callout",
]


def type_name(alert_type: str, *, language: str) -> str:
    """The alarm type's name as the pages show it ("急病" / "medical")."""
    return words.say(f"type.{alert_type}", language=language)


@functools.lru_cache(maxsize=1024)  # an alarm texts each neighbour the same words
def body(
    kind: Kind,
    *,
    language: str,
    address: str,
    name: str | None = None,
    alert_type: str = "help",
    drill: bool = False,
    cycle: int = 1,
    outcome: str = "handled",
) -> str:
    """One text of the given kind, in the recipient's language (Chinese unless English), from
    the wording catalogue (server/words/sms.json); a neighbour's alarm names the raiser."""
    lang = words.language_of(language)
    plain = type_name(alert_type, language=lang)
    kind_text = "" if alert_type == "help" else words.say("sms.kind", language=lang, type=plain)
    prefix = words.say("sms.prefix_drill" if drill else "sms.prefix", language=lang)
    return prefix + words.say(
        f"sms.{kind}",
        language=lang,
        address=address,
        name=words.say("sms.name", language=lang, name=name) if name else "",
        kind=kind_text,
        kind_plain=plain,
        cycle=cycle,
        outcome=words.say(f"outcome.{outcome}", language=lang),
    )


def masked_phone(phone: str) -> str:
    """A phone number with its middle hidden (+86138****0001), for people who don't need it
    whole: residents reading an unknown caller's alarm, the board's delivery lines."""
    return phone[:-8] + "****" + phone[-4:] if len(phone) > 10 else phone
