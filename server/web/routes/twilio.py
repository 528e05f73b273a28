"""Twilio webhooks: calls and texts to an alarm number, delivery receipts, call-out answers.

Every request must carry Twilio's signature of our public URL and its form; without one it is
answered 403 and nothing happens.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from notifier import receipts
from server.alarms.models import AlertType, Channel
from server.errors import Forbidden, Malformed
from server.phone import delivery, inbound, twiml
from server.settings import Settings
from server.web.deps import Now, Session

router = APIRouter(prefix="/twilio", tags=["phone"])

ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


async def get_settings(request: Request) -> Settings:
    """The service's settings."""
    settings: Settings = request.state.settings
    return settings


async def twilio_form(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> dict[str, str]:
    """The webhook's form, if Twilio signed it for our public URL: 403 otherwise, checked on
    the body's bytes before any of it is decoded; 400 if a signed form is not UTF-8."""
    body = await request.body()
    token = settings.twilio_auth_token
    url = inbound.public_url(
        settings.public_base_url, path=request.url.path, query=request.url.query
    )
    if not inbound.signed_body(
        auth_token=token.get_secret_value() if token else None,
        url=url,
        body=body,
        signature=request.headers.get("X-Twilio-Signature"),
    ):
        raise Forbidden("missing or invalid X-Twilio-Signature")
    return inbound.form_of(body)


Form = Annotated[dict[str, str], Depends(twilio_form)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]


def _field(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise Malformed("{name} is missing", name=name)
    return value


def xml(text: str) -> Response:
    """A TwiML answer."""
    return Response(content=text, media_type="application/xml")


@router.post("/voice")
async def incoming_call(form: Form, session: Session, settings: CurrentSettings) -> Response:
    """A call to an alarm number: ask for the alarm type (silence means help)."""
    caller = await inbound.find_caller(session, phone=_field(form, "From"), to=_field(form, "To"))
    row, _ = await inbound.logged(
        session, sid=_field(form, "CallSid"), channel="voice", phone=caller.phone, to=form["To"]
    )
    await session.commit()
    if not caller.known and caller.number is None:
        return xml(twiml.voice_no_number())
    if row.alert_id is not None:
        return xml(twiml.voice_raised(languages=caller.languages, known=caller.known))
    action = inbound.public_url(settings.public_base_url, path="/twilio/voice/menu")
    return xml(
        twiml.voice_menu(
            languages=caller.languages, action=action, seconds=settings.phone_menu_seconds
        )
    )


async def _raise_for_call(
    session: Session, form: dict[str, str], *, alert_type: AlertType, now: Now
) -> inbound.Caller:
    """Raise the alarm of one call, once however often Twilio asks."""
    caller = await inbound.find_caller(session, phone=_field(form, "From"), to=_field(form, "To"))
    row, _ = await inbound.logged(
        session, sid=_field(form, "CallSid"), channel="voice", phone=caller.phone, to=form["To"]
    )
    if row.alert_id is None:
        change = await inbound.raise_alarm(
            session, caller=caller, alert_type=alert_type, source=Channel.VOICE, now=now
        )
        row.alert_id = change.alert.id if change else None
    await session.commit()
    return caller


@router.post("/voice/menu")
async def call_menu(form: Form, session: Session, now: Now) -> Response:
    """The caller pressed a digit (or nothing): raise the alarm and say who was alerted."""
    alert_type = inbound.alert_type_for(form.get("Digits"))
    caller = await _raise_for_call(session, form, alert_type=alert_type, now=now)
    if not caller.known and caller.number is None:
        return xml(twiml.voice_no_number())
    return xml(twiml.voice_raised(languages=caller.languages, known=caller.known))


@router.post("/voice/status", status_code=204)
async def call_status(form: Form, session: Session, now: Now) -> Response:
    """An incoming call ended: if the caller hung up before the menu was done, raise help."""
    if form.get("Direction", "inbound") == "inbound" and form.get("CallStatus") in ENDED:
        await _raise_for_call(session, form, alert_type=AlertType.HELP, now=now)
    return Response(status_code=204)


@router.post("/sms")
async def incoming_text(form: Form, session: Session, now: Now) -> Response:
    """A text to an alarm number: HELP / SOS / 救命 / 1 raise an alarm; 1, 2, 3 (来, 不能, 110)
    answer an open one; anything else gets the list of commands."""
    caller = await inbound.find_caller(session, phone=_field(form, "From"), to=_field(form, "To"))
    body = form.get("Body", "")
    row, new = await inbound.logged(
        session,
        sid=_field(form, "MessageSid"),
        channel="sms",
        phone=caller.phone,
        to=form["To"],
        body=body,
    )
    if not new:
        await session.commit()
        return xml(twiml.sms_reply(None))
    reply = await inbound.handle_text(session, caller=caller, body=body, row=row, now=now)
    await session.commit()
    return xml(twiml.sms_reply(reply))


@router.post("/status", status_code=204)
async def delivery_receipt(job: int, form: Form, session: Session, now: Now) -> Response:
    """A delivery receipt for one outbox job's text or call: recorded forward-only, on the
    board when it changes what a person reads of it (sent, delivered, failed …)."""
    sid = form.get("MessageSid") or _field(form, "CallSid")
    status = form.get("MessageStatus") or _field(form, "CallStatus")
    applied = await receipts.apply_receipt(
        session,
        job_id=job,
        sid=sid,
        status=status,
        error_code=form.get("ErrorCode") or None,
        now=now,
    )
    if applied is not None and delivery.changed(applied.job, before=applied.before):
        await delivery.delivery_events(session, jobs=[applied.job], now=now)
    await session.commit()
    return Response(status_code=204)


@router.post("/voice/answer")
async def callout_answer(job: int, form: Form, session: Session, now: Now) -> Response:
    """A called neighbour or patrol member pressed a digit: 1 is "I'm coming". A call answers
    once: a repeat of the same CallSid hears the same reply and changes nothing."""
    answer = await inbound.answer_callout(
        session,
        job_id=job,
        call_sid=_field(form, "CallSid"),
        digits=form.get("Digits", ""),
        now=now,
        called=form.get("To", ""),
        ours=form.get("From", ""),
    )
    await session.commit()
    return xml(twiml.voice_answered(coming=answer.coming, language=answer.language))


def outage_answer(request: Request) -> Response | None:
    """What a call or text to an alarm number is answered while the database can't be reached
    (None for any other request): never a 503, which a caller would hear as Twilio's
    "application error" and a text would go unanswered. A call hears to call 110 if in danger
    and is asked again after a pause (a retried menu raises help: the digit is not sent again);
    a text is told it was not recorded."""
    endpoint = request.scope.get("endpoint")
    if endpoint is incoming_text:
        return xml(twiml.sms_outage())
    if endpoint is incoming_call or endpoint is call_menu:
        settings: Settings = request.state.settings
        retry = inbound.public_url(settings.public_base_url, path=request.url.path)
        return xml(twiml.voice_outage(retry=retry))
    return None
