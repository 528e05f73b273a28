"""The monthly report (每月治安形势分析): a month of alarms with known events, counted by the
service and by hand; the CSV and the PDF say the same; each reader sees their own scope."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pypdf

from tests.harness import bearer, running
from tests.server.report_month import seed_month
from tests.server.world import World


async def _seeded(world: World) -> None:
    await seed_month(world.url, world.seed.community_id)


async def call(base: str, token: str, method: str, path: str) -> httpx.Response:
    """Call the API as token's holder, waiting long enough for a PDF on a busy machine."""
    async with httpx.AsyncClient(base_url=base, timeout=90) as client:
        return await client.request(method, path, headers=bearer(token))


def _grid_ids(report: dict[str, Any]) -> dict[str, int]:
    return {row["name"]: row["id"] for row in report["figures"]["by_grid"]}


async def test_the_month_is_counted_as_worked_out_by_hand_with_drills_apart(world: World) -> None:
    await _seeded(world)
    async with running(world.settings, clock=world.clock) as base:
        answer = await call(
            base, world.seed.staff["admin"], "GET", "/api/reports/monthly?month=2026-11"
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()
    real = report["figures"]
    # Ten alarms in November, Shanghai time: the one at 00:10 on December 1st (still November
    # in UTC) and the one of October 31st are not in it; the two drills are counted apart.
    assert real["total"] == 10
    assert report["drills"]["total"] == 2
    assert real["by_type"] == {
        "help": 4,
        "medical": 2,
        "fire": 1,
        "intrusion": 1,
        "dispute": 1,
        "other": 1,
    }
    assert report["drills"]["by_type"]["fire"] == 1
    assert {r["name"]: r["count"] for r in real["by_grid"]} == {"网格1": 5, "网格2": 5}
    assert sum(r["count"] for r in real["by_group"]) == 10
    hours = {h: n for h, n in enumerate(real["by_hour"]) if n}
    assert hours == {2: 1, 8: 3, 13: 1, 14: 1, 21: 3, 23: 1}
    assert (real["false_alarms"], real["duress"]) == (2, 1)

    # first coming: 15 20 25 30 35 40 50 60 → median (30+35)/2, p90 the 8th of 8
    # taken: 30 40 45 60 70 80 95 120 150 → median 70, p90 the 9th of 9 (ceil 8.1)
    # on scene: 300 350 420 450 500 600 700 800 → median 475, p90 800
    # closed: 200 900 1000 1200 1500 1600 1800 2400 3000 (the duress alarm's shown cancel at
    # 10 s does not close it) → median 1500, p90 3000
    response = real["response"]
    assert response["first_coming"] == {"count": 8, "median_seconds": 32.5, "p90_seconds": 60}
    assert response["taken"] == {"count": 9, "median_seconds": 70, "p90_seconds": 150}
    assert response["on_scene"] == {"count": 8, "median_seconds": 475, "p90_seconds": 800}
    assert response["closed"] == {"count": 9, "median_seconds": 1500, "p90_seconds": 3000}
    assert report["drills"]["response"]["taken"] == {
        "count": 2,
        "median_seconds": 35,
        "p90_seconds": 50,
    }

    assert real["escalations"] == {
        "neighbours": {"events": 2, "alarms": 2},
        "patrol": {"events": 5, "alarms": 4},
        "police": {"events": 1, "alarms": 1},
    }
    sms, voice, push = (real["delivery"][c] for c in ("sms", "voice", "push"))
    assert sms == {
        "total": 15,
        "delivered": 9,
        "sent": 1,
        "failed": 2,
        "pending": 1,
        "withdrawn": 2,
        "rate": 0.75,
    }
    assert (voice["total"], voice["delivered"], voice["failed"], voice["rate"]) == (2, 1, 1, 0.5)
    assert (push["total"], push["delivered"], push["failed"], push["rate"]) == (4, 3, 1, 0.75)
    assert report["drills"]["delivery"]["sms"]["delivered"] == 5  # not in the real figures

    # B12-2-201 has no phone; B11-1-401's last text failed; B11-2-201's too, but it has push.
    assert report["unreachable"] == {
        "households": 40,
        "no_phone": 1,
        "last_text_failed": 2,
        "no_app": 39,
        "unreachable": 2,
        "addresses": ["B11-1-401", "B12-2-201"],
    }
    assert report["language"] == "zh"  # the admin's own
    assert report["timezone"] == "Asia/Shanghai"


async def test_a_grid_manager_reads_only_their_grid_and_a_patrol_member_not_at_all(
    world: World,
) -> None:
    await _seeded(world)
    async with running(world.settings, clock=world.clock) as base:
        admin, manager = world.seed.staff["admin"], world.seed.staff["grid_manager"]
        whole = (await call(base, admin, "GET", "/api/reports/monthly?month=2026-11")).json()
        grids = _grid_ids(whole)
        mine = await call(base, manager, "GET", "/api/reports/monthly?month=2026-11")
        assert mine.status_code == 200, mine.text
        assert mine.json()["grid"] == {"id": grids["网格1"], "name": "网格1"}
        assert mine.json()["figures"]["total"] == 5
        assert mine.json()["unreachable"]["addresses"] == ["B11-1-401"]
        other = f"/api/reports/monthly?month=2026-11&grid={grids['网格2']}"
        assert (await call(base, manager, "GET", other)).status_code == 404
        other_csv = other.replace("monthly?", "monthly.csv?")
        assert (await call(base, manager, "GET", other_csv)).status_code == 404
        by_admin = (await call(base, admin, "GET", other)).json()
        assert (by_admin["figures"]["total"], by_admin["grid"]["name"]) == (5, "网格2")
        for reader in ("police_office", "patrol_leader"):
            read = await call(base, world.seed.staff[reader], "GET", "/api/reports/monthly")
            assert read.status_code == 200, (reader, read.text)
        patrol = await call(base, world.seed.staff["patrol_member"], "GET", "/api/reports/monthly")
        assert patrol.status_code == 403
        resident = await call(base, world.token("B11-1-101"), "GET", "/api/reports/monthly")
        assert resident.status_code == 403
        assert (
            await call(base, admin, "GET", "/api/reports/monthly?grid=99999")
        ).status_code == 404
        for month in ("2026-13", "9999-12", "26-11", "2026-1"):
            bad = await call(base, admin, "GET", f"/api/reports/monthly?month={month}")
            assert bad.status_code == 422, month
        # the board's glance (/api/reports) is a grid manager's grid's too
        # (five of the month and the two just outside it are of grid 1)
        glance = (await call(base, manager, "GET", "/api/reports?days=366")).json()
        everything = (await call(base, admin, "GET", "/api/reports?days=366")).json()
        assert (glance["real"]["total"], everything["real"]["total"]) == (7, 12)


async def test_the_csv_opens_in_excel_and_says_what_the_json_says(world: World) -> None:
    await _seeded(world)
    async with running(world.settings, clock=world.clock) as base:
        admin = world.seed.staff["admin"]
        answer = await call(base, admin, "GET", "/api/reports/monthly.csv?month=2026-11")
        english = await call(base, admin, "GET", "/api/reports/monthly.csv?month=2026-11&lang=en")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "tenwatch-report-2026-11.csv" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel reads UTF-8 by
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["每月治安形势分析", "2026年11月"]
    found = {(r[0], r[1]): (r[2], r[3]) for r in rows[2:]}
    assert found[("总体情况", "警情总数")] == ("10", "2")
    assert found[("按类型", "求助")] == ("4", "1")
    assert found[("按类型", "火情")] == ("1", "1")
    assert found[("按网格", "网格1")] == ("5", "1")
    assert found[("按时段（几点钟）", "21")] == ("3", "0")
    assert found[("响应时间", "巡逻队接警 · 中位数 (秒)")] == ("70", "35")
    assert found[("响应时间", "第一位邻居赶来 · 中位数 (秒)")] == ("32.5", "10")
    assert found[("响应时间", "结案 · 90% 在此之内 (秒)")] == ("3000", "200")
    assert found[("升级", "巡逻队再次通知 · 升级次数")] == ("5", "0")
    assert found[("通知送达", "短信 · 已送达")] == ("9", "5")
    assert found[("通知送达", "短信 · 送达率")] == ("0.7500", "1.0000")
    assert found[("联系不上的住户", "短信和应用都联系不上")] == ("2", "")
    english_rows = list(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))
    assert english_rows[0][:2] == ["Monthly safety report", "November 2026"]
    assert ["By type", "help", "4", "1"] in english_rows


async def test_the_pdf_has_its_pages_tables_and_charts(world: World) -> None:
    await _seeded(world)
    async with running(world.settings, clock=world.clock) as base:
        manager = world.seed.staff["grid_manager"]
        answer = await call(base, manager, "GET", "/api/reports/monthly.pdf?month=2026-11")
        chart = await call(
            base, manager, "GET", "/api/reports/monthly.svg?month=2026-11&chart=by_hour"
        )
        unknown = await call(base, manager, "GET", "/api/reports/monthly.svg?chart=pie")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    pages = pypdf.PdfReader(io.BytesIO(answer.content)).pages
    assert len(pages) == 4
    text = [page.extract_text() for page in pages]
    assert "每月治安形势分析" in text[0]
    assert "网格1" in text[0]
    assert "响应时间" in text[0]
    # grid 1's takes: 30 40 60 95 120 s → median 60, p90 the 5th of 5
    assert "巡逻队接警 5 1 分 0 秒 2 分 0 秒" in text[0]
    for title in ("按类型", "按时段（几点钟）", "响应时间"):
        assert title in text[1], title
    for title in ("按网格", "按联防组", "通知送达"):
        assert title in text[2], title
    assert "演练" in text[3]
    assert "B11-1-401" in text[3]
    assert chart.status_code == 200, chart.text
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.content.lstrip().startswith(b"<?xml")
    assert b"<svg" in chart.content
    assert b"<path" in chart.content  # text and bars drawn as paths: no font needed
    assert unknown.status_code == 422
