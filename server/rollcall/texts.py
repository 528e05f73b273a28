"""What a roll call texts, says and answers, in Chinese and English. (These move to
`server/words/rollcall.json` with the rest of the catalogue.)"""

from typing import Literal

Language = Literal["zh", "en"]

TEXTS: dict[str, dict[Language, str]] = {
    "sms": {
        "zh": "【十户联防】平安报：{note} 回复 1 平安 · 2 需要帮助",
        "en": "[TenWatch] Are you OK? {note} Reply 1 = OK · 2 = need help",
    },
    "push_title": {"zh": "平安报", "en": "Are you OK?"},
    "push_ok": {"zh": "平安", "en": "I'm OK"},
    "push_help": {"zh": "需要帮助", "en": "Need help"},
    "voice": {
        "zh": "十户联防平安报。{note}。平安请按1，需要帮助请按2。",
        "en": "TenWatch roll call. {note}. If you are OK, press 1. If you need help, press 2.",
    },
    "voice_ok": {
        "zh": "谢谢，已记录您家平安。再见。",
        "en": "Thank you. You are marked OK. Goodbye.",
    },
    "voice_help": {
        "zh": "已通知您的邻居和巡逻队，请保持电话畅通。",
        "en": "Your neighbours and the patrol have been alerted. Please keep your phone free.",
    },
    "voice_bye": {"zh": "好的，再见。", "en": "Thank you. Goodbye."},
    "reply_ok": {
        "zh": "【十户联防】已记录：{address} 平安。谢谢。",
        "en": "[TenWatch] Noted: {address} is OK. Thank you.",
    },
    "reply_help": {
        "zh": "【十户联防】已通知邻居和巡逻队：{address} 需要帮助。请保持电话畅通。",
        "en": "[TenWatch] Your neighbours and the patrol are told {address} needs help. "
        "Keep your phone free.",
    },
    "reply_help_stands": {
        "zh": "【十户联防】{address} 已求助，巡逻队正在处理。",
        "en": "[TenWatch] {address} asked for help; the patrol is on it.",
    },
}
DEFAULT_NOTE: dict[Language, str] = {"zh": "请报平安。", "en": "Please tell us you are safe."}


def language_of(code: str | None) -> Language:
    """English for an en* household, else Chinese."""
    return "en" if (code or "").lower().startswith("en") else "zh"


def text(key: str, *, language: str, **values: str) -> str:
    """One text of a roll call in a language (Chinese unless English)."""
    lang = language_of(language)
    return TEXTS[key][lang].format(**values)


def note_or_default(note: str, language: str) -> str:
    """The staff's note, or a plain request to report in when there is none."""
    return note.strip() or DEFAULT_NOTE[language_of(language)]
