"""What TenWatch keeps about a person and who sees it, in their language; and their consent.

Shown at a person's first sign-in (docs/register.md); consenting records the time on the
resident or staff row, and the audit log records it too.
"""

from dataclasses import dataclass
from datetime import datetime

from groups import audit
from groups.audit import Actor
from groups.models import Resident, Staff
from storage.db import AsyncSession

VERSION = "2026-12"

NOTICE = {
    "zh": {
        "title": "十户联防：我们保存您的哪些信息",
        "paragraphs": [
            "为了在您求助时通知邻居和巡逻队，社区登记了：您的姓名、手机号、住址（楼栋-单元-房号）、"
            "所在的十户联防组和网格，以及您的语言。",
            "住户还可以登记应急信息：备用钥匙由谁保管、行动或病情提示、外出至何日。",
            "谁能看到：同组邻居在警情中看到您的住址和姓名；组长看到本组名册，但他人的手机号只显示部分；"
            "巡逻队、网格员、警务室和社区管理员在处置警情或管理名册时看到完整信息。"
            "工作人员查看完整手机号或应急信息时会被记录。",
            "每一次求助、响应和处置都会被保存，用于处置和月度报告。您可以请社区管理员更正或删除您的登记。",
        ],
        "agree": "我已了解并同意",
    },
    "en": {
        "title": "TenWatch: what we keep about you",
        "paragraphs": [
            "So that your neighbours and the patrol can be told when you ask for help, the "
            "community registers your name, phone number, address (building-unit-room), your "
            "ten-household group and grid, and your language.",
            "A household may also register what responders need: who holds a spare key, a "
            "mobility or medical note, and when it is away until.",
            "Who sees it: neighbours of your group see your address and name in an alarm; your "
            "group leader sees the group's register with others' phone numbers partly hidden; "
            "the patrol, grid manager, police office and community admin see it in full when "
            "they handle an alarm or keep the register. Staff looking at a full phone number or "
            "the responder context is recorded.",
            "Every alarm, answer and outcome is kept, to handle it and for monthly reports. Ask "
            "your community admin to correct or remove your entry.",
        ],
        "agree": "I understand and agree",
    },
}


@dataclass(frozen=True)
class Notice:
    """The notice in one language, and when the person consented (None: not yet)."""

    language: str
    title: str
    paragraphs: list[str]
    agree: str
    version: str
    consented_at: datetime | None


def notice(person: Resident | Staff, *, language: str) -> Notice:
    """The notice for this person in their language (Chinese unless English)."""
    lang = "en" if language == "en" else "zh"
    words = NOTICE[lang]
    return Notice(
        language=lang,
        title=str(words["title"]),
        paragraphs=list(words["paragraphs"]),
        agree=str(words["agree"]),
        version=VERSION,
        consented_at=person.consented_at,
    )


def consent(
    session: AsyncSession,
    *,
    person: Resident | Staff,
    community_id: int,
    actor: Actor,
    language: str,
    at: datetime,
) -> None:
    """Record that the person consented to the notice (the first time; later ones are kept
    in the audit log only)."""
    before = person.consented_at
    if person.consented_at is None:
        person.consented_at = at
    audit.record(
        session,
        community_id=community_id,
        actor=actor,
        action="consent",
        subject=f"{'resident' if isinstance(person, Resident) else 'staff'} {person.name}",
        before={"consented_at": before},
        after={"consented_at": person.consented_at, "version": VERSION, "language": language},
        at=at,
    )
