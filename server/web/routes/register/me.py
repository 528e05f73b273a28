"""Consent and language, for every principal (/api/me/consent, /api/me/language)."""

from fastapi import APIRouter

from groups import consent
from groups.models import Resident, Staff
from server.accounts import Principal
from server.errors import NotFound
from server.web.deps import CurrentPrincipal, Now, Session
from server.web.routes.register.access import actor_of
from server.web.routes.register.schemas import ConsentOut, LanguageIn, LanguageOut

router = APIRouter(prefix="/api/me", tags=["register"])


# -- consent and language, for every principal -----------------------------------------------


async def _person(session: Session, principal: Principal) -> tuple[Resident | Staff, str]:
    if principal.kind == "staff":
        staff = await session.get(Staff, principal.staff_id or 0)
        if staff is None:
            raise NotFound("you are no longer registered")
        return staff, staff.language
    resident = await session.get(Resident, principal.resident_id or 0)
    if resident is None:
        raise NotFound("you are no longer registered")
    await session.refresh(resident, ["household"])
    return resident, resident.household.language


@router.get("/consent", response_model=ConsentOut)
async def get_consent(principal: CurrentPrincipal, session: Session) -> ConsentOut:
    """What TenWatch keeps about you and who sees it, in your language; and whether you
    consented."""
    person, language = await _person(session, principal)
    n = consent.notice(person, language=language)
    return ConsentOut(**n.__dict__)


@router.post("/consent", response_model=ConsentOut)
async def give_consent(principal: CurrentPrincipal, session: Session, now: Now) -> ConsentOut:
    """Record that you read the notice and consent (recorded in the audit log)."""
    person, language = await _person(session, principal)
    consent.consent(
        session,
        person=person,
        community_id=principal.community_id,
        actor=actor_of(principal),
        language=language,
        at=now,
    )
    await session.commit()
    return ConsentOut(**consent.notice(person, language=language).__dict__)


@router.get("/language", response_model=LanguageOut)
async def get_language(principal: CurrentPrincipal, session: Session) -> LanguageOut:
    """The language the pages and your texts use (your household's, or yours as staff)."""
    _, language = await _person(session, principal)
    return LanguageOut(language="en" if language == "en" else "zh")


@router.put("/language", response_model=LanguageOut)
async def set_language(
    body: LanguageIn, principal: CurrentPrincipal, session: Session
) -> LanguageOut:
    """Choose your language (a resident's is the household's: texts to it use it)."""
    person, _ = await _person(session, principal)
    if isinstance(person, Staff):
        person.language = body.language
    else:
        person.household.language = body.language
    await session.commit()
    return LanguageOut(language=body.language)
