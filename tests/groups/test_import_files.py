"""Files an admin might upload that are not the register's CSV: each gets one clear sentence,
and an export of the register imports again as the same register."""

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from groups.directory import list_groups
from groups.importer import ImportFailed, Unreadable, export_csv, import_csv
from groups.models import Community, Household
from storage.db import AsyncSession

SAMPLE = Path(__file__).parent / "data" / "sample.csv"
TEXT = SAMPLE.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (TEXT.encode("utf-16"), "UTF-16"),
        (TEXT.encode("utf-16-le"), "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "binary"),
        (TEXT.encode("gb18030"), "not UTF-8"),
        (b"address,name,phone,grid,roles\nB2-1-101,\xff\xfe,,,\n", "line 2"),
        (b"address,name,phone,grid,roles\nB2-1-101," + b"x" * (1 << 20), "longer than"),
    ],
)
async def test_a_file_that_is_not_utf8_csv_is_refused_with_a_sentence_and_nothing_is_written(
    session: AsyncSession, data: bytes, says: str
) -> None:
    with pytest.raises(Unreadable, match=says) as refused:
        await import_csv(session, source=data, community="丰乐社区")
    assert "\n" not in str(refused.value)
    assert await session.scalar(select(func.count()).select_from(Community)) == 0


async def test_a_utf8_file_with_a_byte_order_mark_is_read(session: AsyncSession) -> None:
    report = await import_csv(session, source=b"\xef\xbb\xbf" + TEXT.encode(), community="c")
    assert report.households == 40


async def test_a_language_column_sets_the_household_language(session: AsyncSession) -> None:
    text = "address,name,phone,grid,roles,language\nB2-1-101,Ann,,,,en\nB2-1-102,王,,,,\n"
    await import_csv(session, source=text.encode(), community="c")
    languages = dict((await session.execute(select(Household.address, Household.language))).all())
    assert languages == {"B2-1-101": "en", "B2-1-102": "zh"}
    with pytest.raises(ImportFailed, match="language 'fr'"):
        await import_csv(
            session,
            source=b"address,name,phone,grid,roles,language\n,X,+8613900000001,,admin,fr\n",
            community="c",
        )


async def test_an_exported_register_imports_again_as_the_same_register(
    session: AsyncSession,
) -> None:
    await import_csv(session, source=SAMPLE, community="one")
    first = await session.scalar(select(Community.id).where(Community.name == "one"))
    assert first is not None
    exported = await export_csv(session, community_id=first)
    await import_csv(session, source=io.StringIO(exported), community="two")
    second = await session.scalar(select(Community.id).where(Community.name == "two"))
    assert second is not None
    assert await export_csv(session, community_id=second) == exported

    def shape(rosters: list) -> list[tuple[str, list[str]]]:  # type: ignore[type-arg]
        return [(r.group.name, [h.address for h in r.members]) for r in rosters]

    assert shape(await list_groups(session, community_id=second)) == shape(
        await list_groups(session, community_id=first)
    )
