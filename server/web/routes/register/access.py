"""Who may keep the register (the admin) and read it (a group leader, their group), and the helpers
every part of it shares: a refusal for a service's error, the answer to a change.
"""

from groups import register
from groups.audit import Actor
from server.accounts import Principal
from server.errors import Forbidden, Invalid, NotFound
from server.web.routes.register.schemas import Changed

# -- who may ---------------------------------------------------------------------------------


def admin(principal: Principal) -> Actor:
    """The audit log's actor, if the principal is the community admin (else refused)."""
    if principal.kind != "staff" or principal.role != "admin":
        raise Forbidden("only the community admin keeps the register")
    return actor_of(principal)


def reader(principal: Principal) -> int | None:
    """The group a reader may see (None: the admin, every group)."""
    if principal.kind == "staff" and principal.role == "admin":
        return None
    if principal.kind == "resident" and principal.group_leader and principal.group_id:
        return principal.group_id
    raise Forbidden("only the community admin and group leaders read the register")


def actor_of(principal: Principal) -> Actor:
    """The audit log's actor for a principal."""
    person = principal.staff_id if principal.kind == "staff" else principal.resident_id
    return Actor(name=principal.name, kind=principal.kind, id=person)


def refusing(exc: Exception) -> Exception:
    """The refusal for a service's error: 404 for a missing id, else 422."""
    if isinstance(exc, LookupError):
        return NotFound(str(exc.args[0]) if exc.args else "not found")
    return Invalid(str(exc))


def changed(done: register.Done) -> Changed:
    """The answer to a change: what it did."""
    return Changed(id=done.id, notes=done.notes)
