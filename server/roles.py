"""Each role its own scope: who may call which route, in one table (docs/roles.md is written
from it, and a test holds every route of the app and the socket to it).

A person's roles add up: a resident is `resident`, and also `group_leader` when their
household leads its group, `building_leader` or `grid_manager` when the register says so; a
staff member has the one role of their row. Every role is of one community: a principal never
sees or acts on another community's rows (those are 404). Finer scope is the route's own: a
grid manager acts on the alarms of their grid, a building leader sees their building, a group
leader their group (see `docs/roles.md`)."""

from enum import StrEnum

from server.accounts import Principal


class Role(StrEnum):
    """The roles of a community."""

    RESIDENT = "resident"
    GROUP_LEADER = "group_leader"  # 十户长
    BUILDING_LEADER = "building_leader"  # 楼栋长
    GRID_MANAGER = "grid_manager"  # 网格员
    PATROL_MEMBER = "patrol_member"
    PATROL_LEADER = "patrol_leader"
    POLICE_OFFICE = "police_office"
    ADMIN = "admin"


def roles_of(principal: Principal) -> frozenset[Role]:
    """The roles a principal holds."""
    known = {role.value for role in Role}
    held = {Role(r) for r in principal.roles if r in known}
    if principal.kind == "resident":
        held.add(Role.RESIDENT)
        if principal.group_leader:
            held.add(Role.GROUP_LEADER)
    elif principal.role in known:
        held.add(Role(principal.role or ""))
    return frozenset(held)


PUBLIC = None
"""A route anyone may call without signing in (sign-in itself, health, pages, the phone's
webhooks, which check Twilio's signature instead)."""

EVERYONE = frozenset(Role)
RESIDENTS = frozenset({Role.RESIDENT})
RESPONDERS = frozenset(
    {Role.PATROL_MEMBER, Role.PATROL_LEADER, Role.GRID_MANAGER, Role.POLICE_OFFICE, Role.ADMIN}
)
"""Staff who take, mark on scene, escalate and resolve alarms (a grid manager: of their grid)."""
STAFF = RESPONDERS  # every staff role responds: the same set, named for what reads it
ROSTER_KEEPERS = frozenset({Role.ADMIN, Role.PATROL_LEADER})
ADMIN = frozenset({Role.ADMIN})
ROLLCALLERS = frozenset({Role.PATROL_LEADER, Role.POLICE_OFFICE, Role.ADMIN, Role.GRID_MANAGER})
"""Staff who start and close a roll call (a grid manager: of their grid)."""
REPORT_READERS = frozenset({Role.ADMIN, Role.POLICE_OFFICE, Role.PATROL_LEADER, Role.GRID_MANAGER})
"""Who reads the monthly report (a grid manager: of their grid)."""

Rule = frozenset[Role] | None

ROUTES: dict[tuple[str, str], Rule] = {
    # signing in, and the sessions it opens
    ("POST", "/api/sign-in/code"): PUBLIC,
    ("POST", "/api/sign-in/verify"): PUBLIC,
    ("POST", "/api/sign-in/choose"): PUBLIC,
    ("POST", "/api/sign-out"): EVERYONE,
    ("GET", "/api/sessions"): EVERYONE,
    ("DELETE", "/api/sessions/{session_id}"): EVERYONE,  # one's own; the admin: anyone's
    ("GET", "/api/community/sessions"): ADMIN,
    ("POST", "/api/invites"): ADMIN | {Role.GROUP_LEADER},  # a group leader: their group
    ("POST", "/api/stream/ticket"): EVERYONE,
    ("GET", "/api/me"): EVERYONE,
    # the alarm
    ("POST", "/api/alerts"): RESIDENTS,  # for their own household
    ("GET", "/api/alerts"): EVERYONE,  # a resident: their group's; staff: their scope's
    ("GET", "/api/alerts/{alert_id}"): EVERYONE,
    ("GET", "/api/alerts/{alert_id}/timeline"): EVERYONE,
    ("POST", "/api/alerts/{alert_id}/responses"): RESIDENTS,  # a neighbour household
    ("POST", "/api/alerts/{alert_id}/cancel"): RESIDENTS,  # the raising household, with its PIN
    ("POST", "/api/alerts/{alert_id}/take"): RESPONDERS,
    ("POST", "/api/alerts/{alert_id}/on-scene"): RESPONDERS,
    ("POST", "/api/alerts/{alert_id}/escalate"): RESPONDERS,
    ("POST", "/api/alerts/{alert_id}/resolve"): RESPONDERS,
    ("POST", "/api/drills"): ADMIN | {Role.GROUP_LEADER, Role.PATROL_LEADER},
    ("PUT", "/api/household/pin"): RESIDENTS,
    ("GET", "/api/household/pin-lockouts"): STAFF,  # the board: who is locked out of PINs
    # the roll call (平安报): staff ask a scope "are you OK?"; households answer
    ("POST", "/api/rollcalls"): ROLLCALLERS,  # a grid manager: their grid or a building in it
    ("GET", "/api/rollcalls"): STAFF,
    ("GET", "/api/rollcalls/{rollcall_id}"): STAFF,
    ("GET", "/api/rollcalls/{rollcall_id}/knock"): STAFF,
    ("POST", "/api/rollcalls/{rollcall_id}/close"): ROLLCALLERS,
    ("POST", "/api/rollcalls/{rollcall_id}/answer"): RESIDENTS,  # for their own household
    ("POST", "/api/rollcalls/push-answer"): PUBLIC,  # the answer token authenticates it
    ("GET", "/api/me/rollcalls"): EVERYONE,  # a resident: the open ones asking their household
    ("POST", "/twilio/voice/rollcall"): PUBLIC,  # signed by Twilio
    ("GET", "/rollcall"): PUBLIC,  # the page; its data asks with the session cookie
    # every recipient of an alarm, and "seen" (a grid manager: their grid's alarms; not the
    # group leader: a duress alarm's table would show the group it is still going on)
    ("GET", "/api/alerts/{alert_id}/recipients"): STAFF,
    ("POST", "/api/alerts/{alert_id}/seen"): RESIDENTS,  # an alarm the resident may read
    ("POST", "/api/push/seen"): PUBLIC,  # the push's answer token authenticates it
    # the board a patrol leader runs a shift on (issue 17)
    ("GET", "/api/alerts/history"): EVERYONE,  # a resident: their group's; staff: their scope's
    ("GET", "/api/patrol"): STAFF,
    ("POST", "/api/alerts/{alert_id}/notes"): RESPONDERS,
    ("POST", "/api/alerts/{alert_id}/reassign"): RESPONDERS,
    # the community's settings
    ("GET", "/api/policy"): STAFF,
    ("PUT", "/api/policy"): ADMIN,
    ("GET", "/api/duty"): STAFF,
    ("POST", "/api/duty/shifts"): ROSTER_KEEPERS,
    ("POST", "/api/duty/overrides"): ROSTER_KEEPERS,
    ("GET", "/api/reports"): STAFF,  # a grid manager: their grid's
    # the register (登记造册): the admin keeps it; a group leader reads their group's
    ("GET", "/api/register/households"): ADMIN | {Role.GROUP_LEADER},
    ("POST", "/api/register/households"): ADMIN,
    ("GET", "/api/register/households/{household_id}"): ADMIN | {Role.GROUP_LEADER},
    ("PATCH", "/api/register/households/{household_id}"): ADMIN,
    ("DELETE", "/api/register/households/{household_id}"): ADMIN,
    ("POST", "/api/register/households/{household_id}/group"): ADMIN,
    ("POST", "/api/register/households/{household_id}/residents"): ADMIN,
    ("PATCH", "/api/register/residents/{resident_id}"): ADMIN,
    ("DELETE", "/api/register/residents/{resident_id}"): ADMIN,
    ("GET", "/api/register/groups"): ADMIN | {Role.GROUP_LEADER},
    ("PUT", "/api/register/groups/{group_id}/leader"): ADMIN,
    ("GET", "/api/register/staff"): ADMIN,
    ("POST", "/api/register/staff"): ADMIN,
    ("PATCH", "/api/register/staff/{staff_id}"): ADMIN,
    ("DELETE", "/api/register/staff/{staff_id}"): ADMIN,
    ("GET", "/api/register/alarm-numbers"): ADMIN,
    ("POST", "/api/register/alarm-numbers"): ADMIN,
    ("DELETE", "/api/register/alarm-numbers/{number_id}"): ADMIN,
    ("GET", "/api/register/roster"): ADMIN,
    ("POST", "/api/register/roster/shifts"): ADMIN,
    ("POST", "/api/register/roster/overrides"): ADMIN,
    ("DELETE", "/api/register/roster/shifts/{shift_id}"): ADMIN,
    ("DELETE", "/api/register/roster/overrides/{override_id}"): ADMIN,
    ("POST", "/api/register/import"): ADMIN,
    ("GET", "/api/register/export.csv"): ADMIN,
    ("GET", "/api/register/audit"): ADMIN,
    ("GET", "/api/register/audit.csv"): ADMIN,
    # push: a resident's device subscribes; a notification's button answers with its token
    ("GET", "/api/push/key"): RESIDENTS,
    ("POST", "/api/push/subscriptions"): RESIDENTS,
    ("DELETE", "/api/push/subscriptions"): RESIDENTS,
    ("POST", "/api/push/answer"): PUBLIC,  # the answer token authenticates it
    # hardware: the admin pairs panic buttons and sirens (docs/devices.md)
    ("GET", "/api/hardware"): ADMIN,
    ("POST", "/api/hardware"): ADMIN,
    ("DELETE", "/api/hardware/{device_id}"): ADMIN,
    ("GET", "/api/hardware/unknown"): ADMIN,
    # what is kept about me, and my language
    ("GET", "/api/me/consent"): EVERYONE,
    ("POST", "/api/me/consent"): EVERYONE,
    ("GET", "/api/me/language"): EVERYONE,
    ("PUT", "/api/me/language"): EVERYONE,
    # the monthly report (每月治安形势分析): a grid manager reads their grid's only
    ("GET", "/api/reports/monthly"): REPORT_READERS,
    ("GET", "/api/reports/monthly.csv"): REPORT_READERS,
    ("GET", "/api/reports/monthly.pdf"): REPORT_READERS,
    ("GET", "/api/reports/monthly.svg"): REPORT_READERS,
    ("GET", "/report"): PUBLIC,  # the page; its data asks for the session cookie
    # the resident app
    ("GET", "/api/me/numbers"): EVERYONE,  # a resident: their group's alarm number
    ("GET", "/sw.js"): PUBLIC,
    ("GET", "/manifest.webmanifest"): PUBLIC,
    ("GET", "/icon-192.png"): PUBLIC,
    ("GET", "/icon-512.png"): PUBLIC,
    # the plan and reachability (server/reach): staff see their scope (a grid manager their
    # grid), a building leader their building; the routine button test alarms no one
    ("GET", "/api/community/plan"): STAFF | {Role.BUILDING_LEADER},
    ("GET", "/api/community/reachability"): STAFF | {Role.BUILDING_LEADER},
    ("GET", "/api/community/households/{household_id}"): STAFF | {Role.BUILDING_LEADER},
    ("POST", "/api/me/test"): RESIDENTS,  # their own household
    ("POST", "/api/households/{household_id}/test"): ADMIN,
    ("GET", "/api/households/{household_id}/tests"): STAFF | RESIDENTS,  # a resident: their own
    ("GET", "/plan"): PUBLIC,
    # health, and the phone's webhooks (signed by Twilio)
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,  # details only to staff
    ("GET", "/metrics"): PUBLIC,  # its own rule: the metrics token or staff (docs/operate.md)
    ("POST", "/twilio/voice"): PUBLIC,
    ("POST", "/twilio/voice/menu"): PUBLIC,
    ("POST", "/twilio/voice/answer"): PUBLIC,
    ("POST", "/twilio/voice/status"): PUBLIC,
    ("POST", "/twilio/sms"): PUBLIC,
    ("POST", "/twilio/status"): PUBLIC,
    # the pages (each asks for its data with the session cookie)
    ("GET", "/"): PUBLIC,
    ("GET", "/signin"): PUBLIC,
    ("GET", "/s"): PUBLIC,
    ("GET", "/devices"): PUBLIC,
    ("GET", "/app"): PUBLIC,
    ("GET", "/board"): PUBLIC,
    ("GET", "/register"): PUBLIC,
    ("GET", "/static/js/{name}"): PUBLIC,
}
"""Every route of the app and who may call it; a route missing here is refused to everyone."""

SOCKET: frozenset[Role] = EVERYONE
"""Who may open the live stream: everyone signed in; a resident hears their group, staff
their scope's board."""

NOT_YOURS = "This is for {roles}; you are signed in as {held}."


def allowed(rule: Rule, principal: Principal) -> bool:
    """Whether a principal holds one of the roles a rule names."""
    return rule is PUBLIC or bool(roles_of(principal) & rule)


def table() -> str:
    """The role table as docs/roles.md shows it (a test keeps the two the same)."""
    order = list(Role)
    head = "| route | " + " | ".join(r.value for r in order) + " |"
    rule = "|---|" + "---|" * len(order)
    rows = [head, rule]
    for (method, path), allowed_roles in ROUTES.items():
        if allowed_roles is PUBLIC:
            cells = ["anyone"] + [""] * (len(order) - 1)
        else:
            cells = ["✓" if r in allowed_roles else "" for r in order]
        rows.append(f"| `{method} {path}` | " + " | ".join(cells) + " |")
    rows.append("| socket `/ws` | " + " | ".join("✓" if r in SOCKET else "" for r in order) + " |")
    return "\n".join(rows) + "\n"
