"""The one wording catalogue: every entry in both languages with the same blanks, and every key
the pages and the code use is in it."""

import json
import re
from pathlib import Path

import httpx

from server import words
from server.alarms import texts
from server.errors import Conflict
from server.settings import Settings
from tests.harness import running

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "server" / "web" / "static"
_T_CALL = re.compile(r"""\bt\(\s*["']([A-Za-z0-9_.]+)["']\s*[,)]""")
_DATA_WORD = re.compile(r'data-word="([A-Za-z0-9_.]+)"')
_SAY_CALL = re.compile(r"""words\.say\(\s*["']([A-Za-z0-9_.]+)["']""")


def test_every_entry_is_in_both_languages_with_the_same_blanks() -> None:
    both = words.catalogue()
    assert set(both["zh"]) == set(both["en"])
    for key, zh in both["zh"].items():
        en = both["en"][key]
        assert zh.strip(), key
        assert en.strip(), key
        assert words.placeholders(zh) == words.placeholders(en), key


def test_every_key_the_pages_use_is_in_the_catalogue() -> None:
    known = words.catalogue()["zh"]
    used: dict[str, str] = {}
    for path in [*STATIC.glob("*.html"), *STATIC.glob("js/*.js"), STATIC / "sw.js"]:
        text = path.read_text(encoding="utf-8")
        for key in [*_T_CALL.findall(text), *_DATA_WORD.findall(text)]:
            used[key] = path.name
    assert len(used) > 100  # the scan finds the pages' labels
    missing = {key: page for key, page in used.items() if key not in known}
    assert not missing


def test_every_key_the_code_says_is_in_the_catalogue() -> None:
    known = words.catalogue()["zh"]
    used = {
        key: path.name
        for path in (ROOT / "server").rglob("*.py")
        for key in _SAY_CALL.findall(path.read_text(encoding="utf-8"))
    }
    assert used
    assert not {key: where for key, where in used.items() if key not in known}


def test_a_key_in_two_files_is_refused(tmp_path: Path) -> None:
    assert len(set(words.catalogue()["zh"])) == len(words.catalogue()["zh"])
    names = [p.stem for p in (ROOT / "server" / "words").glob("*.json")]
    seen: set[str] = set()
    for name in names:
        entries = json.loads((ROOT / "server" / "words" / f"{name}.json").read_text())
        assert not seen & set(entries), name
        seen |= set(entries)


def test_the_neighbours_text_names_the_raiser_and_the_answer() -> None:
    zh = texts.body("alarm", language="zh", address="B11-1-301", name="王芳", alert_type="medical")
    assert zh == "【十户联防】B11-1-301 王芳 求助（急病），请邻居速往支援。回复 1 = 我来了。"
    en = texts.body("alarm", language="en", address="B11-1-301", name="Wang Fang")
    assert "Wang Fang" in en
    assert "Reply 1 = I'm coming" in en
    # the screen says the same type and outcome words as the text
    assert words.say("type.medical", language="zh") in zh
    closed = texts.body("all_clear", language="zh", address="B11-1-301", outcome="handled")
    assert words.say("outcome.handled", language="zh") in closed


def test_a_refusal_is_said_in_the_persons_language() -> None:
    refusal = Conflict("alarm {alert_id} is already closed", alert_id=7)
    assert str(refusal) == "alarm 7 is already closed"
    assert refusal.say("en") == "alarm 7 is already closed"
    if "alarm {alert_id} is already closed" in words.catalogue()["zh"]:
        assert refusal.say("zh") != str(refusal)
        assert "7" in refusal.say("zh")


async def test_the_pages_get_the_catalogue_as_a_module(sqlite_url: str) -> None:
    async with running(Settings(database_url=sqlite_url)) as base, httpx.AsyncClient() as client:
        response = await client.get(f"{base}/static/js/catalogue.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    body = response.text
    served = json.loads(body[body.index("export default ") + 15 : body.rindex(";")])
    assert served == words.catalogue()


def test_an_alarms_type_and_outcome_have_one_entry_each() -> None:
    # the board once said 已处理 and 火警 where the text said 已处置 and 火情
    known = words.catalogue()["zh"]
    for shared in [k for k in known if re.fullmatch(r"(type|outcome)\.\w+", k)]:
        copies = [k for k in known if k != shared and k.endswith("." + shared)]
        assert not copies, (shared, copies)
