"""The alarm's state machine: which action is allowed from which status, and where it leads.

One table, used by every step (the press that merges, the neighbours' answers, the patrol's
steps, the raiser's cancel, the deadlines), and checked against the diagram in
`docs/lifecycle.md` by a test: an edge in one and not the other fails it.
"""

from enum import StrEnum

from server.alarms.models import Status


class Action(StrEnum):
    """Something a person or a deadline does to an alarm."""

    PRESS = "press"
    """The raising household presses again: merged into its open alarm."""
    ANSWER = "answer"
    """A neighbour answers: coming, can't, called 110."""
    TAKE = "take"
    ON_SCENE = "on_scene"
    ESCALATE = "escalate"
    """The patrol calls in the police office."""
    RESOLVE = "resolve"
    CANCEL = "cancel"
    """The raiser's PIN within the cancel window: a false alarm."""
    DURESS = "duress"
    """The raiser's duress PIN: shown as a cancel, kept open for the patrol and the police."""
    WIDEN = "widen"
    """Deadline: too few neighbours coming; the building's other groups are alerted."""
    REPEAT = "repeat"
    """Deadline: nobody took it; the patrol and the police office are alerted again."""


_ANY_OPEN = (Action.PRESS, Action.ANSWER, Action.ESCALATE, Action.DURESS)

TRANSITIONS: dict[Status, dict[Action, Status]] = {
    Status.OPEN: {
        **dict.fromkeys((*_ANY_OPEN, Action.WIDEN, Action.REPEAT), Status.OPEN),
        Action.TAKE: Status.ACKNOWLEDGED,
        Action.ON_SCENE: Status.ON_SCENE,
        Action.RESOLVE: Status.RESOLVED,
        Action.CANCEL: Status.CANCELLED,
    },
    Status.ACKNOWLEDGED: {
        **dict.fromkeys(_ANY_OPEN, Status.ACKNOWLEDGED),
        Action.ON_SCENE: Status.ON_SCENE,
        Action.RESOLVE: Status.RESOLVED,
        Action.CANCEL: Status.CANCELLED,
    },
    Status.ON_SCENE: {
        **dict.fromkeys(_ANY_OPEN, Status.ON_SCENE),
        Action.RESOLVE: Status.RESOLVED,
        Action.CANCEL: Status.CANCELLED,
    },
    Status.RESOLVED: {},
    Status.CANCELLED: {},
}


def after(status: Status, action: Action) -> Status | None:
    """The status the action leads to from this one; None when this status does not allow it."""
    return TRANSITIONS[status].get(action)


def allows(status: Status, action: Action) -> bool:
    """Whether an alarm in this status may take this action."""
    return action in TRANSITIONS[status]
