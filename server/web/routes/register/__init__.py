"""The register (登记造册) in a browser: the community admin keeps households, residents, groups,
staff, alarm numbers, the roster and the policy; a group leader reads their own group.

Thin routes over groups/register.py (the decisions) and groups/audit.py (the log): a route
parses, authorizes, calls one service function and commits. Another community's ids are 404,
like ids that don't exist. Also serves the page (/register) and the pages' modules
(/static/js/…), and the consent notice of docs/register.md (/api/me/consent).

This package only assembles `router`, in the order the routes were always registered: who may
(access.py), the shapes (schemas.py), households and groups (households.py), staff and alarm
numbers (staff.py), the roster and the policy (roster.py), import, export and the audit log
(files.py), consent and language (me.py), the page and its modules (pages.py).
"""

from fastapi import APIRouter

from server.web.routes.register import files, households, me, pages, roster, staff

router = APIRouter()  # what app.py includes: the register's API, /api/me/…, and the page
router.include_router(households.router)
router.include_router(staff.router)
router.include_router(roster.router)
router.include_router(files.router)
router.include_router(me.router)
router.include_router(pages.router)
