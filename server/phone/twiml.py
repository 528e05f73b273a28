"""What the phone says and texts back: TwiML and reply texts, in Chinese and English (the
wording catalogue's `phone.*`, server/words/phone.json)."""

import re
from collections.abc import Sequence
from typing import Literal

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from server import words

Language = Literal["zh", "en"]

VOICES: dict[Language, tuple[str, str]] = {
    "zh": ("Polly.Zhiyu", "cmn-CN"),
    "en": ("Polly.Joanna", "en-US"),
}

_CJK = re.compile(r"[\u3400-\u9fff]")


def _say(parent: VoiceResponse, text: str, language: Language) -> None:
    voice, code = VOICES[language]
    parent.say(text, voice=voice, language=code)


def voice_menu(*, languages: Sequence[Language], action: str, seconds: int) -> str:
    """Ask for the alarm type by digit; silence (or a hang-up) is help."""
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1, timeout=seconds, action=action, method="POST", action_on_empty_result=True
    )
    for language in languages:
        _say(gather, words.say("phone.menu", language=language), language)
    response.redirect(action, method="POST")
    return str(response)


def voice_raised(*, languages: Sequence[Language], known: bool) -> str:
    """Tell the caller who was alerted (and an unknown caller to call 110 too), then hang up."""
    response = VoiceResponse()
    key = "raised" if known else "raised_unknown"
    for _ in range(2):
        for language in languages:
            _say(response, words.say(f"phone.{key}", language=language), language)
    response.hangup()
    return str(response)


def voice_no_number() -> str:
    """A call to a number that is not an alarm number, from an unknown phone: call 110."""
    response = VoiceResponse()
    for language in ("zh", "en"):
        _say(response, words.say("phone.no_number", language=language), language)
    response.hangup()
    return str(response)


def language_of_text(text: str) -> Language:
    """The language a text is written in: Chinese if it has any Chinese character."""
    return "zh" if _CJK.search(text) else "en"


def voice_callout(*, body: str, action: str) -> str:
    """A call-out: say the alarm (in the language it is written in) and take 1 at `action`."""
    language = language_of_text(body)
    response = VoiceResponse()
    gather = response.gather(num_digits=1, timeout=8, action=action, method="POST")
    for _ in range(2):
        _say(gather, body, language)
        _say(gather, words.say("phone.callout_prompt", language=language), language)
    _say(response, words.say("phone.callout_bye", language=language), language)
    response.hangup()
    return str(response)


def voice_rollcall(*, body: str, action: str) -> str:
    """A roll call's call: say its question (in the language it is written in) and take 1
    (OK) or 2 (need help) at `action`."""
    language = language_of_text(body)
    response = VoiceResponse()
    gather = response.gather(num_digits=1, timeout=8, action=action, method="POST")
    for _ in range(2):
        _say(gather, body, language)
    _say(response, words.say("rollcall.voice.bye", language=language), language)
    response.hangup()
    return str(response)


def voice_rollcall_answered(*, answer: str | None, language: Language) -> str:
    """The end of a roll call's call: OK noted, help on its way, or goodbye."""
    key = {"ok": "rollcall.voice.ok", "help": "rollcall.voice.help"}.get(
        answer or "", "rollcall.voice.bye"
    )
    response = VoiceResponse()
    _say(response, words.say(key, language=language), language)
    response.hangup()
    return str(response)


def voice_answered(*, coming: bool, language: Language) -> str:
    """The end of a call-out: thanks for coming, or goodbye."""
    response = VoiceResponse()
    _say(
        response,
        words.say("phone.callout_thanks" if coming else "phone.callout_bye", language=language),
        language,
    )
    response.hangup()
    return str(response)


def sms_text(key: str, *, languages: Sequence[Language], **values: str) -> str:
    """One reply text in the given languages (both for an unknown phone), with our prefix."""
    return "\n".join(
        words.say("sms.prefix", language=lang) + words.say(f"phone.{key}", language=lang, **values)
        for lang in languages
    )


def sms_reply(text: str | None) -> str:
    """TwiML that texts `text` back (nothing when None)."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


def voice_outage(*, retry: str) -> str:
    """A call to an alarm number while the database can't be reached: the caller is told to
    call 110 if in danger, and the call asks again after a pause (the same CallSid, so the
    alarm is raised once when the database is back), for as long as the caller holds."""
    response = VoiceResponse()
    for language in ("zh", "en"):
        _say(response, words.say("phone.outage_call", language=language), language)
    response.pause(length=5)
    response.redirect(retry, method="POST")
    return str(response)


def sms_outage() -> str:
    """TwiML answering a text to an alarm number while the database can't be reached: it was
    not recorded (Twilio does not send it again), so the sender is told, and to call 110."""
    return sms_reply(sms_text("outage_text", languages=("zh", "en")))
