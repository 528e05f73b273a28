"""The phone as a help button: who is calling or texting, what they ask, and what we answer.

A call or a text to an alarm number raises an alarm for the caller's household, found by the
caller's number; an unknown caller's alarm goes on the number's group (or community) board with
the number to call back. Texts also answer an open alarm. Every webhook is signed by Twilio
(`X-Twilio-Signature`, checked against `TENWATCH_PUBLIC_BASE_URL`); answers are TwiML.
"""

import base64
import hmac
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha1
from typing import Literal
from urllib.parse import unquote_to_bytes, urlparse

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from twilio.request_validator import add_port, remove_port

from groups import directory
from groups.models import AlarmNumber, Staff
from notifier.models import InboundMessage, OutboxMessage
from server import accounts, words
from server.accounts import Principal
from server.alarms import lifecycle, metrics, press
from server.alarms.change import Change, Pressed
from server.alarms.models import AlertType, Answer, Channel
from server.errors import Conflict, Forbidden, Malformed, NotFound, Refusal
from server.phone import twiml
from server.phone.twiml import Language
from server.rollcall import service as rollcall
from server.rollcall.models import RollAnswer
from storage.db import AsyncSession, utcnow

log = logging.getLogger(__name__)

Command = Literal["help", "one", "coming", "cant", "called_110"]

ANSWERS: dict[Command, Answer] = {
    "one": Answer.COMING,
    "coming": Answer.COMING,
    "cant": Answer.CANT,
    "called_110": Answer.CALLED_110,
}
"""The answer a text gives to an open alarm ("1" is "coming" only when there is one)."""

DIGIT_TYPES = {
    "1": AlertType.HELP,
    "2": AlertType.MEDICAL,
    "3": AlertType.FIRE,
    "4": AlertType.INTRUSION,
}
"""What a caller presses for the alarm type; anything else (or nothing) is help."""

_WORDS: dict[str, Command] = {
    "HELP": "help",
    "SOS": "help",
    "救命": "help",
    "求助": "help",
    "1": "one",
    "来": "coming",
    "COMING": "coming",
    "COME": "coming",
    "2": "cant",
    "不能": "cant",
    "CANT": "cant",
    "CANNOT": "cant",
    "3": "called_110",
    "110": "called_110",
    "已报警": "called_110",
}

# -- signatures -----------------------------------------------------------------------------


def public_url(base: str, *, path: str, query: str = "") -> str:
    """The URL Twilio requested, as it sees us: the public base, the path and the query."""
    return base.rstrip("/") + path + (f"?{query}" if query else "")


def signed_body(*, auth_token: str | None, url: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is Twilio's signature of this URL and form body, checked on the
    body's bytes before anything of it is decoded (a body that is not UTF-8 is then refused
    as unsigned, or as malformed, never mis-read).

    Twilio's computation, as the twilio library's `RequestValidator` does it on text: the URL
    (with and without its default port), then each field's name and value, sorted by name then
    value, HMAC-SHA1 with the auth token, base64. On UTF-8 text the bytes sort as the text does,
    so this agrees with the library wherever the library can read the form."""
    if not auth_token or not signature:
        return False
    fields: dict[bytes, set[bytes]] = {}
    for name, value in _fields(body):
        fields.setdefault(name, set()).add(value)
    signed_fields = b"".join(
        name + value for name in sorted(fields) for value in sorted(fields[name])
    )
    expected = signature.encode("utf-8", "replace")
    parsed = urlparse(url)
    for variant in {remove_port(parsed), add_port(parsed)}:
        digest = hmac.new(auth_token.encode(), variant.encode() + signed_fields, sha1).digest()
        if hmac.compare_digest(base64.b64encode(digest), expected):
            return True
    return False


def form_of(body: bytes) -> dict[str, str]:
    """A signed webhook's form, decoded as UTF-8 (the last value of a repeated field);
    Malformed when it is not UTF-8."""
    try:
        return {name.decode(): value.decode() for name, value in _fields(body)}
    except UnicodeDecodeError:
        raise Malformed("the webhook's form is not UTF-8") from None


def _fields(body: bytes) -> list[tuple[bytes, bytes]]:
    """The names and values of a form body, unescaped, still bytes (`parse_qsl` would decode a
    body with bytes beyond ASCII first, and fail on it); blank values kept."""
    found = []
    for field in body.split(b"&"):
        if field:
            name, _, value = field.replace(b"+", b" ").partition(b"=")
            found.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return found


# -- who is calling, what they ask ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called or texted which number: a resident (as a principal) or an unknown phone."""

    phone: str
    number: AlarmNumber | None
    principal: Principal | None
    language: Language

    @property
    def known(self) -> bool:
        """Whether the phone is registered to a household."""
        return self.principal is not None

    @property
    def languages(self) -> tuple[Language, ...]:
        """The caller's language, or both (Chinese first) for a caller we do not know."""
        return (self.language,) if self.known else ("zh", "en")


def language_of(code: str | None) -> Language:
    """Our language for a household's language code: English for en*, else Chinese."""
    return "en" if (code or "").lower().startswith("en") else "zh"


async def find_caller(session: AsyncSession, *, phone: str, to: str) -> Caller:
    """The household a phone belongs to, preferring one in the called number's group, and the
    alarm number called (None when `to` is no alarm number)."""
    number = await directory.find_alarm_number(session, number=to)
    matches = await directory.find_by_phone(
        session, phone=phone, community_id=number.community_id if number else None
    )
    if number is not None and number.group_id is not None:
        matches.sort(key=lambda m: m.household.group_id != number.group_id)
    if not matches:
        return Caller(phone=phone, number=number, principal=None, language="zh")
    match = matches[0]
    return Caller(
        phone=phone,
        number=number,
        principal=accounts.of_resident(match.resident, match.household, match.group_name),
        language=language_of(match.household.language),
    )


def _word(text: str) -> str:
    word = unicodedata.normalize("NFKC", text).strip().upper().replace("'", "").replace("’", "")
    return word.strip(" .!?。！？，,")


def parse_command(text: str) -> Command | None:
    """The command a text means (HELP, SOS, 救命, 1 / 来, 2 / 不能, 3 / 110 …), or None."""
    return _WORDS.get(_word(text))


ROLLCALL_WORDS: dict[str, RollAnswer] = {
    "1": RollAnswer.OK,
    "平安": RollAnswer.OK,
    "OK": RollAnswer.OK,
    "2": RollAnswer.HELP,
    "需要帮助": RollAnswer.HELP,
}
"""What a text answers to a roll call ("1" and "2" only while one is open: see
`rollcall_text`)."""


def alert_type_for(digits: str | None) -> AlertType:
    """The alarm type a pressed digit names; none or any other digit is help."""
    return DIGIT_TYPES.get((digits or "").strip()[:1], AlertType.HELP)


# -- the inbound log: each call or text acted on once -------------------------------------------


async def logged(
    session: AsyncSession,
    *,
    sid: str,
    channel: str,
    phone: str,
    to: str,
    body: str | None = None,
) -> tuple[InboundMessage, bool]:
    """The log row of one call or text (locked), and whether it is new (not a retried webhook).

    Twilio may deliver the same webhook twice at once: the insert skips a SID already there,
    so the second copy waits on the first's row lock and then finds it, instead of failing."""
    values = {
        "provider_sid": sid,
        "channel": channel,
        "from_number": phone,
        "to_number": to,
        "body": body,
        "created_at": utcnow(),
    }
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgres_insert
    added = await session.execute(
        insert(InboundMessage)
        .values(values)
        .on_conflict_do_nothing(index_elements=["provider_sid"])
    )
    row = await session.scalar(
        select(InboundMessage).where(InboundMessage.provider_sid == sid).with_for_update()
    )
    assert row is not None
    return row, bool(getattr(added, "rowcount", 0))


async def raise_alarm(
    session: AsyncSession, *, caller: Caller, alert_type: AlertType, source: Channel, now: datetime
) -> Change[Pressed] | None:
    """Raise the caller's alarm: for their household (joining its open alarm, as a press does),
    or as an unidentified caller on the called number's board. None only when neither is known
    (no household, no alarm number). Counted as a press (docs/operate.md, "Metrics")."""
    change: Change[Pressed] | None = None
    if caller.principal is not None:
        change = await press.create(
            session, principal=caller.principal, alert_type=alert_type, source=source, now=now
        )
    elif caller.number is not None:
        change = await press.create_unidentified(
            session,
            community_id=caller.number.community_id,
            group_id=caller.number.group_id,
            caller=caller.phone,
            source=source,
            now=now,
            alert_type=alert_type,
        )
    metrics.pressed(source, change.outcome if change is not None else "unknown_caller")
    return change


def voice_callout(job: OutboxMessage, *, public_base_url: str) -> str:
    """The TwiML of one call-out job: its body said, 1 answered at /twilio/voice/answer. A
    call of no alarm is a roll call's: 1 (OK) or 2 (need help) at /twilio/voice/rollcall."""
    if job.alert_id is None:
        action = public_url(public_base_url, path="/twilio/voice/rollcall", query=f"job={job.id}")
        return twiml.voice_rollcall(body=job.body, action=action)
    action = public_url(public_base_url, path="/twilio/voice/answer", query=f"job={job.id}")
    return twiml.voice_callout(body=job.body, action=action)


# -- texts and call-out answers ---------------------------------------------------------------


async def handle_text(
    session: AsyncSession, *, caller: Caller, body: str, row: InboundMessage, now: datetime
) -> str:
    """Act on one text to an alarm number and say what to text back; the caller commits."""
    command = parse_command(body)
    languages = caller.languages
    if caller.principal is not None:
        reply = await rollcall_text(session, caller=caller, body=body, row=row, now=now)
        if reply is not None:
            return reply
    if command is None:
        return twiml.sms_text("commands", languages=languages)
    open_alarm = None
    if caller.principal is not None and command != "help":
        open_alarm = await lifecycle.answerable(session, principal=caller.principal)
    if command == "help" or (command == "one" and open_alarm is None):
        change = await raise_alarm(
            session, caller=caller, alert_type=AlertType.HELP, source=Channel.SMS, now=now
        )
        if change is None:
            return twiml.sms_text("no_number", languages=languages)
        row.alert_id = change.alert.id
        key = "raised" if caller.known else "raised_unknown"
        return twiml.sms_text(key, languages=languages)
    if caller.principal is None or open_alarm is None:
        return (
            twiml.sms_text("nothing_to_answer", languages=languages)
            + "\n"
            + twiml.sms_text("commands", languages=languages)
        )
    answer = ANSWERS[command]
    try:
        await lifecycle.respond(
            session,
            principal=caller.principal,
            alert_id=open_alarm.id,
            answer=answer,
            now=now,
            channel=Channel.SMS,
        )
    except (Conflict, NotFound, Forbidden) as refusal:  # the alarm closed meanwhile: say so
        return refusal_text(refusal, languages=languages)
    row.alert_id = open_alarm.id
    return twiml.sms_text(answer, languages=languages, address=open_alarm.address or "?")


async def rollcall_text(
    session: AsyncSession, *, caller: Caller, body: str, row: InboundMessage, now: datetime
) -> str | None:
    """A text as a roll call's answer, if it is one (else None: the alarm's commands read it).

    The clash of "1" / "2" (a roll call's OK / need help, an alarm's coming / can't come) is
    settled so: while an open roll call asking the household has no answer from it, a bare 1
    or 2 answers the roll call (a "2" meaning "need help" is never lost as "can't come"); once
    it answered, 1 and 2 answer an alarm the household is asked to answer, as before, and
    answer the roll call again only when there is none. The words 来 / 不能 / 110 (COMING,
    CANT) always answer the alarm; 平安 / OK / 需要帮助 always the roll call; HELP / SOS / 救命
    during a roll call is its "need help" (and raises the alarm, as always)."""
    assert caller.principal is not None
    assert caller.principal.household_id is not None
    word = _word(body)
    command = _WORDS.get(word)
    answer = ROLLCALL_WORDS.get(word) or (RollAnswer.HELP if command == "help" else None)
    if answer is None:
        return None
    asked = await rollcall.open_for_household(session, household_id=caller.principal.household_id)
    if not asked:
        return None
    answered_all = all(r.answer is not None for _, r in asked)
    if word in ("1", "2") and answered_all:
        alarm = await lifecycle.answerable(session, principal=caller.principal)
        if alarm is not None:
            return None
    answered = await rollcall.answer(
        session, principal=caller.principal, answer=answer, channel="sms", now=now
    )
    row.alert_id = answered.alert_id
    key = {
        "help_stands": "rollcall.reply.help_stands",
        "answered": f"rollcall.reply.{answered.answer}",
        "repeated": f"rollcall.reply.{answered.answer}",
    }[answered.outcome]
    return words.say(key, language=caller.language, address=answered.address)


async def answer_rollcall_call(
    session: AsyncSession,
    *,
    job_id: int,
    call_sid: str,
    digits: str,
    now: datetime,
    called: str = "",
    ours: str = "",
) -> tuple[RollAnswer | None, Language]:
    """A digit pressed on a roll call's call: 1 is OK, 2 need help, for the called resident's
    household. A call answers once (its CallSid logged as "rollcall"): a repeat hears the same
    reply and changes nothing. The caller commits."""
    job = await session.get(OutboxMessage, job_id)
    if job is None or job.channel != "voice" or job.alert_id is not None:
        return None, "zh"
    language = twiml.language_of_text(job.body)
    row, new = await logged(
        session, sid=call_sid, channel="rollcall", phone=called[:20], to=ours[:20], body=digits
    )
    if not new:
        return ROLLCALL_WORDS.get((row.body or "").strip()[:1]), language
    answer = ROLLCALL_WORDS.get(digits.strip()[:1])
    principal = await principal_of(session, resident_id=job.resident_id, staff_id=None)
    if answer is None or principal is None:
        return None, language
    try:
        answered = await rollcall.answer(
            session, principal=principal, answer=answer, channel="voice", now=now
        )
    except (Conflict, NotFound, Forbidden):
        return None, language
    row.alert_id = answered.alert_id
    return answered.answer, language


def refusal_text(refusal: Refusal, *, languages: Sequence[Language]) -> str:
    """A refusal texted back in the caller's language (both for an unknown phone), with our
    prefix: the same sentence the app shows."""
    return "\n".join(
        words.say("sms.prefix", language=language) + refusal.say(language) for language in languages
    )


@dataclass(frozen=True, slots=True)
class CalloutAnswer:
    """What a called person's digit did."""

    coming: bool
    language: Language


async def principal_of(
    session: AsyncSession, *, resident_id: int | None, staff_id: int | None
) -> Principal | None:
    """The principal of an outbox job's recipient: a resident, or a staff member."""
    if resident_id is not None:
        return await accounts.for_resident(session, resident_id=resident_id)
    member = await session.get(Staff, staff_id) if staff_id is not None else None
    return accounts.of_staff(member) if member is not None else None


async def answer_callout(
    session: AsyncSession,
    *,
    job_id: int,
    call_sid: str,
    digits: str,
    now: datetime,
    called: str = "",
    ours: str = "",
) -> CalloutAnswer:
    """A digit pressed on a call-out: 1 is "coming" (a neighbour's answer; the patrol takes the
    alarm). A call answers once: the first answer of a CallSid is logged (`phone_inbound`, as
    "callout"), and a later request of the same call — Twilio's retry, or a replayed request —
    hears the same reply and changes nothing (it would overwrite a later answer the person
    gave by text or in the app). `called` is the phone called, `ours` the number it was
    called from (what the log keeps). The caller commits."""
    job = await session.get(OutboxMessage, job_id)
    if job is None or job.channel != "voice" or job.alert_id is None:
        return CalloutAnswer(coming=False, language="zh")
    language = twiml.language_of_text(job.body)
    row, new = await logged(
        session, sid=call_sid, channel="callout", phone=called[:20], to=ours[:20], body=digits
    )
    if not new:
        return CalloutAnswer(coming=row.alert_id is not None, language=language)
    if digits.strip()[:1] != "1":
        return CalloutAnswer(coming=False, language=language)
    principal = await principal_of(session, resident_id=job.resident_id, staff_id=job.staff_id)
    if principal is None:
        return CalloutAnswer(coming=False, language=language)
    try:
        if principal.kind == "resident":
            await lifecycle.respond(
                session,
                principal=principal,
                alert_id=job.alert_id,
                answer=Answer.COMING,
                now=now,
                channel=Channel.VOICE,
            )
        else:
            await lifecycle.take(session, principal=principal, alert_id=job.alert_id, now=now)
    except (Conflict, NotFound, Forbidden):
        return CalloutAnswer(coming=False, language=language)
    row.alert_id = job.alert_id  # what a repeat of this call is told: coming
    return CalloutAnswer(coming=True, language=language)
