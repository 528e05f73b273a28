"""Signing in by phone and the sessions it opens: a code by SMS, the choice of who (one phone
may be several people's), the session cookie; my devices, an admin's list, revocation; invites;
one-time stream tickets."""

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from groups.directory import parse_phone
from groups.models import Household
from server.accounts import Principal
from server.errors import Forbidden, Invalid, NotFound
from server.settings import Settings
from server.signin import codes, devices, invites, sessions, tickets
from server.signin.codes import Identity, Limits
from server.signin.sessions import Lifetimes
from server.web import cookies
from server.web.deps import CurrentPrincipal, Now, Session
from server.web.routes.pages import STATIC

router = APIRouter(prefix="/api", tags=["sign-in"])
pages = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
Phone = Annotated[str, Field(min_length=1, max_length=32, examples=["+8613800000001"])]


class CodeRequest(BaseModel):
    """A phone number to send a sign-in code to."""

    model_config = ConfigDict(extra="forbid")
    phone: Phone


class CodeSent(BaseModel):
    """The same answer for any number: a code is on its way if the number is registered."""

    sent: bool = True
    valid_seconds: int


class CodeCheck(BaseModel):
    """The code the phone got."""

    model_config = ConfigDict(extra="forbid")
    phone: Phone
    code: str = Field(min_length=1, max_length=12)


class Choice(BaseModel):
    """Someone the phone belongs to."""

    identity: str = Field(description='"resident:12" or "staff:3"')
    label: str


class ChoiceMade(BaseModel):
    """Who of the phone's people signs in, with the secret the checked code gave."""

    model_config = ConfigDict(extra="forbid")
    phone: Phone
    choice: str = Field(min_length=1, max_length=100)
    identity: str = Field(min_length=1, max_length=40)


class SignedIn(BaseModel):
    """Signed in (the cookie is set), or a choice to make first."""

    signed_in: bool
    name: str | None = None
    kind: Literal["resident", "staff"] | None = None
    household: str | None = None
    needs_pin: bool = Field(False, description="The household has no cancel PIN yet: set one.")
    session_id: int | None = None
    expires_at: datetime | None = None
    choose: list[Choice] = []
    choice: str | None = Field(None, description="Send it back with the identity chosen.")


class SessionOut(BaseModel):
    """A device signed in, or an integration's token (never its secret)."""

    id: int
    kind: str
    device: str | None
    who: str
    created_at: datetime
    expires_at: datetime | None
    current: bool = False


class InviteRequest(BaseModel):
    """Whom to invite: one household, one group, or every household not yet signed in."""

    model_config = ConfigDict(extra="forbid")
    household: str | None = Field(None, max_length=40, description="An address: B11-1-301")
    group_id: int | None = Field(None, ge=1, le=MAX_ID)
    not_signed_in: bool = Field(False, description="Only residents who never signed in.")


class Invited(BaseModel):
    """How many invite texts were queued."""

    invited: int


class Ticket(BaseModel):
    """A one-time pass for `/ws?ticket=…`."""

    ticket: str
    expires_in: float


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def _limits(settings: Settings) -> Limits:
    return Limits(
        valid_seconds=settings.sign_in_code_seconds,
        tries=settings.sign_in_tries,
        per_phone_an_hour=settings.sign_in_codes_per_phone,
        per_client_an_hour=settings.sign_in_codes_per_client,
    )


def _phone(text: str) -> str:
    try:
        return parse_phone(text)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.post("/sign-in/code", status_code=202, response_model=CodeSent)
async def send_code(body: CodeRequest, request: Request, now: Now) -> CodeSent:
    """Text a six-digit sign-in code to a phone (the same answer whether or not it is known)."""
    settings = _settings(request)
    seconds = await codes.send(
        request.state.sessions,
        phone=_phone(body.phone),
        client=_client(request),
        verifier=request.state.verifier,
        limits=_limits(settings),
        now=now,
    )
    return CodeSent(valid_seconds=seconds)


@router.post("/sign-in/verify", response_model=SignedIn)
async def verify_code(
    body: CodeCheck, request: Request, response: Response, session: Session, now: Now
) -> SignedIn:
    """Check the code; signed in, or asked to choose who when the phone is several people's."""
    settings = _settings(request)
    phone = _phone(body.phone)
    code_id, people = await codes.check(
        request.state.sessions,
        phone=phone,
        code=body.code.strip(),
        verifier=request.state.verifier,
        limits=_limits(settings),
        now=now,
    )
    if len(people) > 1:
        choice = await codes.offer_choice(session, code_id=code_id)
        await session.commit()
        return SignedIn(
            signed_in=False,
            choose=[Choice(identity=p.key, label=p.label) for p in people],
            choice=choice,
        )
    return await _open(people[0], request, response, session, now)


@router.post("/sign-in/choose", response_model=SignedIn)
async def choose(
    body: ChoiceMade, request: Request, response: Response, session: Session, now: Now
) -> SignedIn:
    """Sign in as the one chosen of the phone's people."""
    identity = await codes.chosen(
        session,
        phone=_phone(body.phone),
        choice=body.choice,
        key=body.identity,
        limits=_limits(_settings(request)),
        now=now,
    )
    return await _open(identity, request, response, session, now)


async def _open(
    identity: Identity, request: Request, response: Response, session: Session, now: datetime
) -> SignedIn:
    settings = _settings(request)
    token, credential = await sessions.open_session(
        session,
        identity=identity,
        device=devices.name(request.headers.get("user-agent")),
        lifetimes=Lifetimes(
            resident_days=settings.session_resident_days, staff_hours=settings.session_staff_hours
        ),
        now=now,
    )
    needs_pin = False
    household = None
    if identity.resident_id is not None:
        household = await session.scalar(
            select(Household)
            .join(Household.residents)
            .where(Household.residents.any(id=identity.resident_id))
        )
        needs_pin = household is not None and household.pin_hash is None
    await session.commit()
    ends = credential.expires_at or now + timedelta(days=3650)  # a cookie must end
    cookies.give(
        response,
        token=token,
        expires_at=ends,
        secure=cookies.secure(request, public_base_url=settings.public_base_url),
    )
    return SignedIn(
        signed_in=True,
        name=identity.label,
        kind="resident" if identity.resident_id is not None else "staff",
        household=household.address if household is not None else None,
        needs_pin=needs_pin,
        session_id=credential.id,
        expires_at=credential.expires_at,
    )


@router.post("/sign-out", status_code=204)
async def sign_out(
    principal: CurrentPrincipal, request: Request, response: Response, session: Session, now: Now
) -> None:
    """End this device's session (every process forgets it at once) and clear its cookie."""
    if principal.credential_id is not None:
        await sessions.revoke(session, credential_ids=[principal.credential_id], now=now)
        await session.commit()
    settings = _settings(request)
    cookies.take_back(
        response, secure=cookies.secure(request, public_base_url=settings.public_base_url)
    )


def _out(found: sessions.Listed, principal: Principal) -> SessionOut:
    return SessionOut(
        id=found.id,
        kind=found.kind,
        device=found.device,
        who=found.who,
        created_at=found.created_at,
        expires_at=found.expires_at,
        current=found.id == principal.credential_id,
    )


@router.get("/sessions", response_model=list[SessionOut])
async def my_sessions(principal: CurrentPrincipal, session: Session, now: Now) -> list[SessionOut]:
    """My devices: every session (and token) of mine in force."""
    found = await sessions.listed(
        session,
        community_id=principal.community_id,
        now=now,
        resident_id=principal.resident_id if principal.kind == "resident" else None,
        staff_id=principal.staff_id if principal.kind == "staff" else None,
    )
    return [_out(f, principal) for f in found if f.resident_id or f.staff_id]


@router.get("/community/sessions", response_model=list[SessionOut])
async def community_sessions(
    principal: CurrentPrincipal, session: Session, now: Now
) -> list[SessionOut]:
    """Every session and token in force in the community (admin)."""
    _admin(principal)
    found = await sessions.listed(session, community_id=principal.community_id, now=now)
    return [_out(f, principal) for f in found]


def _admin(principal: Principal) -> None:
    if principal.kind != "staff" or principal.role != "admin":
        raise Forbidden("only the community's admin may do this")


@router.delete("/sessions/{session_id}", status_code=204)
async def revoke_session(
    session_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    principal: CurrentPrincipal,
    session: Session,
    now: Now,
) -> None:
    """Sign a device out ("lost phone"): your own, or any of the community's as its admin.
    Its requests fail and its sockets close at once, on every process."""
    found = await sessions.find(session, credential_id=session_id)
    mine = found is not None and (
        (principal.kind == "resident" and found.resident_id == principal.resident_id)
        or (principal.kind == "staff" and found.staff_id == principal.staff_id)
    )
    admin = principal.kind == "staff" and principal.role == "admin"
    if found is None or found.community_id != principal.community_id or not (mine or admin):
        raise NotFound("no session {session_id} of yours", session_id=session_id)
    await sessions.revoke(session, credential_ids=[session_id], now=now)
    await session.commit()


@router.post("/invites", response_model=Invited)
async def send_invites(
    body: InviteRequest, request: Request, principal: CurrentPrincipal, session: Session, now: Now
) -> Invited:
    """Text residents a link to sign in: one household, one group, or everyone not yet signed
    in (admin; a group leader for their own group)."""
    admin = principal.kind == "staff" and principal.role == "admin"
    group_id = body.group_id
    if not admin:
        if not principal.group_leader or principal.group_id is None:
            raise Forbidden("only the admin, or a group leader for their group, sends invites")
        if group_id not in (None, principal.group_id):
            raise Forbidden("a group leader invites only their own group")
        group_id = principal.group_id
    household_ids = None
    if body.household is not None:
        household = await session.scalar(
            select(Household).where(
                Household.community_id == principal.community_id,
                Household.address == body.household,
            )
        )
        if household is None or (not admin and household.group_id != principal.group_id):
            raise NotFound("no household {household} here", household=body.household)
        household_ids = [household.id]
    elif admin and group_id is None and not body.not_signed_in:
        raise Invalid("name a household or a group, or ask for everyone not signed in")
    count = await invites.invite(
        session,
        community_id=principal.community_id,
        public_base_url=_settings(request).public_base_url,
        now=now,
        household_ids=household_ids,
        group_id=group_id,
        not_signed_in=body.not_signed_in,
    )
    await session.commit()
    return Invited(invited=count)


@router.post("/stream/ticket", response_model=Ticket)
async def stream_ticket(
    principal: CurrentPrincipal, request: Request, session: Session, now: Now
) -> Ticket:
    """A one-time ticket for `/ws?ticket=…`, for a client that can send neither the cookie
    nor an Authorization header with its websocket."""
    if principal.credential_id is None:
        raise Forbidden("this credential can't have a ticket")
    seconds = _settings(request).stream_ticket_seconds
    ticket = await tickets.issue(
        session, credential_id=principal.credential_id, seconds=seconds, now=now
    )
    await session.commit()
    return Ticket(ticket=ticket, expires_in=seconds)


@pages.get("/signin")
async def signin_page() -> FileResponse:
    """The sign-in page: phone, code, who, then the first-time PIN."""
    return FileResponse(STATIC / "signin.html")


@pages.get("/devices")
async def devices_page() -> FileResponse:
    """My devices: where I am signed in, and a button to sign each out ("lost phone")."""
    return FileResponse(STATIC / "devices.html")


@pages.get("/s")
async def short_link() -> RedirectResponse:
    """The short link in an invite text."""
    return RedirectResponse("/signin")
