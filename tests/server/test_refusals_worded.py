"""Every refusal the service raises is worded in the catalogue: raised as an English template
with keyword values (never a sentence already filled by an f-string, `%` or `.format`), its
template an entry of server/words/errors.json, and every entry still raised somewhere; and a
resident's refused request reads in the language the page asks for."""

import ast
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from server import words
from server.errors import Conflict
from server.phone import inbound
from tests.harness import running
from tests.server.world import World, set_pins

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server"
ERRORS = SERVER / "words" / "errors.json"
REFUSALS = {
    "Refusal",
    "Malformed",
    "Unauthenticated",
    "Forbidden",
    "NotFound",
    "Conflict",
    "Invalid",
    "TooMany",
    "Unavailable",
}
WRAPPED = "<str(exc)>"
"""A refusal that passes on a groups/ error's own sentence (`str(exc)`): those are many and
filled, and stay in English (the register's and the roster's, read by staff)."""


class Unworded(Exception):
    """A refusal's sentence the scan can't take for a template."""


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SERVER.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _assigned(tree: ast.Module) -> dict[str, list[ast.expr]]:
    """Every value a name is given anywhere in the module (constants and locals alike)."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                found.setdefault(target.id, []).append(value)
    return found


_CONSTANTS: dict[str, list[ast.expr]] = {}
for _path, _tree in _modules():
    for _name, _values in _assigned(_tree).items():
        if _name.isupper():  # a module's constant, found by name from any module
            _CONSTANTS.setdefault(_name, []).extend(_values)


def _sentences(node: ast.expr, local: dict[str, list[ast.expr]]) -> list[str]:
    """The templates an argument can be: literals, named constants, a choice among them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        raise Unworded("an f-string: raise a template with keyword values")
    if isinstance(node, ast.BinOp):
        raise Unworded("a sentence made with % or +: raise a template with keyword values")
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "str":
            return [WRAPPED]
        if isinstance(func, ast.Attribute) and func.attr == "format":
            raise Unworded(".format(): pass the values to the refusal instead")
        if isinstance(func, ast.Attribute) and func.attr == "get" and len(node.args) == 2:
            return _sentences(func.value, local) + _sentences(node.args[1], local)
        raise Unworded(f"a call {ast.unparse(node)[:60]}")
    if isinstance(node, ast.IfExp):
        return _sentences(node.body, local) + _sentences(node.orelse, local)
    if isinstance(node, ast.Subscript):
        return _sentences(node.value, local)
    if isinstance(node, ast.Dict):
        return [s for value in node.values for s in _sentences(value, local)]
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        values = local.get(name) if isinstance(node, ast.Name) else None
        values = values or _CONSTANTS.get(name)
        if not values:
            raise Unworded(f"{name} is not a template the scan can find")
        return [s for value in values for s in _sentences(value, local)]
    raise Unworded(f"{type(node).__name__} {ast.unparse(node)[:60]}")


def _scopes(tree: ast.Module) -> Iterator[tuple[ast.AST, dict[str, list[ast.expr]]]]:
    """Each node of the module with the names it can read: its own function's, then the
    module's (a function's own names first)."""
    module = {
        target.id: [node.value]
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }

    def visit(
        node: ast.AST, names: dict[str, list[ast.expr]]
    ) -> Iterator[tuple[ast.AST, dict[str, list[ast.expr]]]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = {**names, **_assigned(ast.Module(body=child.body, type_ignores=[]))}
                yield from visit(child, inner)
            else:
                yield child, names
                yield from visit(child, names)

    yield from visit(tree, module)


def _refusal_calls() -> Iterator[tuple[str, ast.Call, dict[str, list[ast.expr]]]]:
    for path, tree in _modules():
        for node, names in _scopes(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in REFUSALS:
                yield f"{path.relative_to(ROOT)}:{node.lineno}", node, names


def raised() -> dict[str, str]:
    """Every template a refusal is raised with, and where (the first place)."""
    templates: dict[str, str] = {}
    for where, call, local in _refusal_calls():
        if call.args:
            for sentence in _sentences(call.args[0], local):
                templates.setdefault(sentence, where)
    return templates


def entries() -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = json.loads(ERRORS.read_text(encoding="utf-8"))
    return loaded


def test_every_refusal_is_raised_as_a_template_with_values() -> None:
    unworded: dict[str, str] = {}
    for where, call, local in _refusal_calls():
        if not call.args:
            unworded[where] = "no sentence"
            continue
        try:
            _sentences(call.args[0], local)
        except Unworded as exc:
            unworded[where] = str(exc)
    assert len(list(_refusal_calls())) > 60  # the scan finds the refusals
    assert not unworded


def test_the_scan_tells_a_filled_sentence_from_a_template() -> None:
    tree = ast.parse(
        'NotFound(f"no alarm {n}")\nNotFound("no alarm %s" % n)\n'
        'NotFound("no alarm {n}".format(n=n))\nNotFound("no alarm {n}", n=n)\n'
    )
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    verdicts: list[list[str] | None] = []
    for call in calls:
        if not (isinstance(call.func, ast.Name) and call.func.id == "NotFound"):
            continue
        try:
            verdicts.append(_sentences(call.args[0], {}))
        except Unworded:
            verdicts.append(None)
    assert verdicts == [None, None, None, ["no alarm {n}"]]


def test_every_template_raised_is_in_the_catalogue() -> None:
    known = entries()
    missing = {
        template: where
        for template, where in raised().items()
        if template != WRAPPED and template not in known
    }
    assert not missing


def test_every_entry_is_still_raised_somewhere() -> None:
    dead = set(entries()) - set(raised())
    assert not dead


def test_every_entry_is_chinese_with_the_same_blanks() -> None:
    for template, texts in entries().items():
        assert set(texts) == {"zh"}, template  # the English is the key itself
        zh = texts["zh"]
        assert any("\u4e00" <= c <= "\u9fff" for c in zh), template
        assert words.placeholders(zh) == words.placeholders(template), template
        values: dict[str, object] = dict.fromkeys(words.placeholders(template), "x")
        if "until" in values:
            values["until"] = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
        assert zh.format(**values)  # the same conversions and formats fill it


def test_a_refusal_is_texted_in_the_callers_language() -> None:
    refusal = Conflict("alarm {alert_id} is resolved; it takes no more answers", alert_id=7)
    zh = inbound.refusal_text(refusal, languages=("zh",))
    assert zh == words.say("sms.prefix", language="zh") + "7 号警情已经处理完毕，不再需要回应。"
    en = inbound.refusal_text(refusal, languages=("en",))
    assert en == words.say("sms.prefix", language="en") + str(refusal)
    assert inbound.refusal_text(refusal, languages=("zh", "en")) == f"{zh}\n{en}"


async def test_a_residents_refusals_read_in_the_pages_language(world: World) -> None:
    async with running(world.settings, clock=world.clock) as base:
        raiser = world.resident(base)
        neighbour = world.resident(base, world.neighbours()[0])
        await set_pins(raiser)
        alarm = await raiser.raise_alarm()

        async def cancel(language: str | None) -> str:
            headers = {} if language is None else {"Accept-Language": language}
            answer = await raiser.call(
                "POST", f"/api/alerts/{alarm}/cancel", json={"pin": "0000"}, headers=headers
            )
            assert answer.status_code == 403
            detail: str = answer.json()["detail"]
            return detail

        assert await cancel("zh") == words.refusal("wrong PIN", language="zh")
        assert await cancel("zh-CN,zh;q=0.9") == entries()["wrong PIN"]["zh"]
        assert await cancel("en") == "wrong PIN"
        assert await cancel(None) == "wrong PIN"

        assert (await raiser.cancel(alarm, pin="1234")).status_code == 200

        async def answer(language: str | None) -> str:
            headers = {} if language is None else {"Accept-Language": language}
            answer = await neighbour.call(
                "POST", f"/api/alerts/{alarm}/responses", json={"answer": "coming"}, headers=headers
            )
            assert answer.status_code == 409
            detail: str = answer.json()["detail"]
            return detail

        closed = f"alarm {alarm} is cancelled; it takes no more answers"
        zh = await answer("zh")
        assert zh == entries()["alarm {alert_id} is cancelled; it takes no more answers"][
            "zh"
        ].format(alert_id=alarm)
        assert str(alarm) in zh
        assert not any(word in zh for word in ("alarm", "cancelled", "answers"))
        assert await answer("en") == closed
        assert await answer(None) == closed
