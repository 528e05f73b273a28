"""The alarm's state machine in code is the one docs/lifecycle.md draws, arrow for arrow."""

from __future__ import annotations

import re
from pathlib import Path

from server.alarms.models import OPEN, Status
from server.alarms.transitions import TRANSITIONS, Action, after, allows

DOC = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"
ARROW = re.compile(r"^\s*(\w+) --> (\w+): (\w+)\b", re.MULTILINE)


def _drawn() -> set[tuple[str, str, str]]:
    diagram = DOC.read_text().split("```mermaid", 1)[1].split("```", 1)[0]
    return {(source, action, target) for source, target, action in ARROW.findall(diagram)}


def test_every_arrow_of_the_diagram_is_in_the_table_and_every_entry_is_drawn() -> None:
    table = {
        (source.value, action.value, target.value)
        for source, moves in TRANSITIONS.items()
        for action, target in moves.items()
    }
    drawn = _drawn()
    assert drawn - table == set(), "drawn in docs/lifecycle.md but not in the table"
    assert table - drawn == set(), "in the table but not drawn in docs/lifecycle.md"


def test_a_closed_alarm_takes_no_action_and_an_open_one_can_always_be_closed() -> None:
    for status in Status:
        if status in OPEN:
            assert after(status, Action.RESOLVE) == Status.RESOLVED
            assert after(status, Action.CANCEL) == Status.CANCELLED
        else:
            assert not any(allows(status, action) for action in Action)


def test_only_an_untaken_alarm_can_be_taken_and_deadlines_act_only_on_it() -> None:
    for action in (Action.TAKE, Action.WIDEN, Action.REPEAT):
        assert [s for s in Status if allows(s, action)] == [Status.OPEN]
