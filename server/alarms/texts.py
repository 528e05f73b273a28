"""What the phones are told, in Chinese and English: alarms, escalations and the all-clear."""

import functools
from typing import Literal

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

TYPE_NAMES = {
    "zh": {
        "help": "求助",
        "medical": "急病",
        "fire": "火情",
        "intrusion": "入室",
        "dispute": "纠纷",
        "other": "其他",
    },
    "en": {
        "help": "help",
        "medical": "medical",
        "fire": "fire",
        "intrusion": "intrusion",
        "dispute": "dispute",
        "other": "other",
    },
}
OUTCOME_NAMES = {
    "zh": {
        "handled": "已处置",
        "false_alarm": "误报",
        "police": "已移交警方",
        "medical": "已送医",
        "other": "已处理",
        "cancelled": "已撤销",
    },
    "en": {
        "handled": "handled",
        "false_alarm": "false alarm",
        "police": "handed to police",
        "medical": "medical transfer",
        "other": "closed",
        "cancelled": "cancelled",
    },
}

_ZH = {
    "alarm": "{address} 求助{kind}，请邻居速往支援。回复 1 = 我来了。",
    "patrol": "新警情：{address} {kind_plain}，请接警。",
    "widened": "{address} 求助{kind}，本组邻居响应不足，请附近邻居速往支援。回复 1 = 我来了。",
    "escalated": "警情无人接警（第{cycle}轮）：{address} {kind_plain}，请立即处置。",
    "police": "巡逻队请求警务室支援：{address} {kind_plain}，请立即出警。",
    "confirmed": "确认警情：{address} 与同组邻居相继求助，请立即出警。",
    "duress": "胁迫警报：{address} 被迫撤销了报警，请立即出警，勿联系该户。",
    "all_clear": "{address} 的警情已解除（{outcome}）。谢谢邻居们。",
    "callout": "紧急求助：{address} 需要帮助{kind}，还没有人接应。",
}
_EN = {
    "alarm": "{address} needs help{kind}. Your neighbour needs you now. Reply 1 = I'm coming.",
    "patrol": "New alarm: {address} ({kind_plain}). Please take it.",
    "widened": "{address} needs help{kind}; too few neighbours answered. Go, or reply 1 = coming.",
    "escalated": "Alarm not taken (round {cycle}): {address} ({kind_plain}). Act now.",
    "police": "The patrol asks the police office for help at {address} ({kind_plain}). Go now.",
    "confirmed": "Confirmed incident: {address} and a neighbour both pressed for help. Go now.",
    "duress": "DURESS: {address} was forced to cancel its alarm. Send help; do not call them.",
    "all_clear": "All clear at {address} ({outcome}). Thank you, neighbours.",
    "callout": "Emergency: {address} needs help{kind}, and too few have answered.",
}


@functools.lru_cache(maxsize=1024)  # an alarm texts each neighbour the same words
def body(
    kind: Kind,
    *,
    language: str,
    address: str,
    alert_type: str = "help",
    drill: bool = False,
    cycle: int = 1,
    outcome: str = "handled",
) -> str:
    """One text of the given kind, in the recipient's language (Chinese unless English)."""
    lang = "en" if language == "en" else "zh"
    names = TYPE_NAMES[lang]
    if lang == "en":
        kind_text = "" if alert_type == "help" else f" ({names[alert_type]})"
        prefix = "[TenWatch DRILL] " if drill else "[TenWatch] "
        template = _EN[kind]
    else:
        kind_text = "" if alert_type == "help" else f"（{names[alert_type]}）"
        prefix = "【十户联防·演练 DRILL】" if drill else "【十户联防】"
        template = _ZH[kind]
    return prefix + template.format(
        address=address,
        kind=kind_text,
        kind_plain=names[alert_type],
        cycle=cycle,
        outcome=OUTCOME_NAMES[lang].get(outcome, outcome),
    )


def masked_phone(phone: str) -> str:
    """A phone number with its middle hidden (+86138****0001), for people who don't need it
    whole: residents reading an unknown caller's alarm, the board's delivery lines."""
    return phone[:-8] + "****" + phone[-4:] if len(phone) > 10 else phone
