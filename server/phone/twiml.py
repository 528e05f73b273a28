"""What the phone says and texts back: TwiML and reply texts, in Chinese and English."""

import re
from collections.abc import Sequence
from typing import Literal

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from server.rollcall import texts as rollcall_texts

Language = Literal["zh", "en"]

VOICES: dict[Language, tuple[str, str]] = {
    "zh": ("Polly.Zhiyu", "cmn-CN"),
    "en": ("Polly.Joanna", "en-US"),
}

TEXTS: dict[str, dict[Language, str]] = {
    "menu": {
        "zh": "十户联防报警。请按键：1 求助，2 急病，3 火情，4 入室。不按键即为求助。",
        "en": "TenWatch alarm. Press 1 for help, 2 medical, 3 fire, 4 intrusion. "
        "Or wait, and we raise a help alarm.",
    },
    "raised": {
        "zh": "已通知您的邻居和巡逻队，请保持电话畅通。",
        "en": "Your neighbours and the patrol have been alerted. Please keep your phone free.",
    },
    "raised_unknown": {
        "zh": "已通知巡逻队。您的号码没有登记，请同时拨打110。",
        "en": "The patrol has been alerted. Your number is not registered: please also call 110.",
    },
    "no_number": {
        "zh": "这个号码没有开通十户联防报警。请拨打110。",
        "en": "This number is not a TenWatch alarm number. Please call 110.",
    },
    "commands": {
        "zh": "回复：救命/SOS 求助；有警情时回复 1或来=马上到，2或不能=无法前往，3或110=已报警。",
        "en": "Reply HELP or SOS for help. During an alarm reply 1 = coming, 2 = can't come, "
        "3 = called 110.",
    },
    "nothing_to_answer": {
        "zh": "现在没有需要您回应的警情。",
        "en": "There is no open alarm for you to answer.",
    },
    "coming": {
        "zh": "已告知大家您马上赶到 {address}。",
        "en": "Thank you: everyone sees you are coming to {address}.",
    },
    "cant": {"zh": "已记录：您无法前往 {address}。", "en": "Noted: you can't come to {address}."},
    "called_110": {
        "zh": "已记录：您已为 {address} 报警110。",
        "en": "Noted: you called 110 for {address}.",
    },
    "callout_prompt": {
        "zh": "如果您马上就来，请按1。",
        "en": "If you are coming, press 1.",
    },
    "callout_thanks": {
        "zh": "谢谢，已告知大家您马上就到。",
        "en": "Thank you. Everyone sees you are coming.",
    },
    "callout_bye": {"zh": "好的，再见。", "en": "Thank you. Goodbye."},
}
SMS_PREFIX: dict[Language, str] = {"zh": "【十户联防】", "en": "[TenWatch] "}
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
        _say(gather, TEXTS["menu"][language], language)
    response.redirect(action, method="POST")
    return str(response)


def voice_raised(*, languages: Sequence[Language], known: bool) -> str:
    """Tell the caller who was alerted (and an unknown caller to call 110 too), then hang up."""
    response = VoiceResponse()
    key = "raised" if known else "raised_unknown"
    for _ in range(2):
        for language in languages:
            _say(response, TEXTS[key][language], language)
    response.hangup()
    return str(response)


def voice_no_number() -> str:
    """A call to a number that is not an alarm number, from an unknown phone: call 110."""
    response = VoiceResponse()
    for language in ("zh", "en"):
        _say(response, TEXTS["no_number"][language], language)
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
        _say(gather, TEXTS["callout_prompt"][language], language)
    _say(response, TEXTS["callout_bye"][language], language)
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
    _say(response, rollcall_texts.text("voice_bye", language=language), language)
    response.hangup()
    return str(response)


def voice_rollcall_answered(*, answer: str | None, language: Language) -> str:
    """The end of a roll call's call: OK noted, help on its way, or goodbye."""
    key = {"ok": "voice_ok", "help": "voice_help"}.get(answer or "", "voice_bye")
    response = VoiceResponse()
    _say(response, rollcall_texts.text(key, language=language), language)
    response.hangup()
    return str(response)


def voice_answered(*, coming: bool, language: Language) -> str:
    """The end of a call-out: thanks for coming, or goodbye."""
    response = VoiceResponse()
    _say(response, TEXTS["callout_thanks" if coming else "callout_bye"][language], language)
    response.hangup()
    return str(response)


def sms_text(key: str, *, languages: Sequence[Language], **values: str) -> str:
    """One reply text in the given languages (both for an unknown phone), with our prefix."""
    return "\n".join(SMS_PREFIX[lang] + TEXTS[key][lang].format(**values) for lang in languages)


def sms_reply(text: str | None) -> str:
    """TwiML that texts `text` back (nothing when None)."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)
