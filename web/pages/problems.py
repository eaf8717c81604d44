"""Reporting problems from the pages: a member from a machine's or room's page, a passer-by at the
kiosk; the member's own reports and where the managers have got; the photo for whom may see it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.errors import DomainError, InvalidRequest
from booking.members.actors import Actor
from devices.problems import service as problems
from web.deps import NowDep, SessionDep
from web.errors import status_of
from web.i18n import say
from web.pages.common import (
    KioskActor,
    ManagerActor,
    PersonActor,
    flash,
    language_of,
    render,
    see_other,
    text,
)
from web.uploads import read_photo

router = APIRouter(include_in_schema=False)


def _image(data: bytes, media_type: str) -> Response:
    # A member's upload is shown as an image only: never sniffed as anything else, never cached by others.
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
    return Response(data, media_type=media_type, headers=headers)


@router.post("/resources/{resource_id}/problems")
async def report_problem(
    request: Request,
    resource_id: str,
    session: SessionDep,
    now: NowDep,
    actor: PersonActor,
    description: Annotated[str, Form(max_length=2000)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """A member reports a problem with a machine or a room; the site's managers get an alert."""
    try:
        data = await read_photo(photo)
        problems.report(
            session,
            resource_id,
            description,
            now,
            member_id=actor.id,
            reporter=actor.member.name,
            photo=data,
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        # The page shows the reason and the description again (a file input cannot be refilled).
        request.session["problem_text"] = description[:1000]
        flash(request, say(exc.message, language_of(request, actor)))
        return see_other(f"/resources/{resource_id}?problem=1#report-problem")
    request.session.pop("problem_text", None)
    flash(request, text(request, actor, "Thank you: the managers have been told. You can follow it here."))
    return see_other("/me/problems")


@router.get("/me/problems")
def my_problems(request: Request, session: SessionDep, actor: PersonActor) -> Response:
    """The problems I reported and where each stands."""
    return render(request, "portal/problems.html", actor, reports=problems.my_reports(session, actor.id))


@router.get("/problems/{report_id}/photo")
def problem_photo(report_id: str, session: SessionDep, actor: PersonActor) -> Response:
    """A report's photo, for the member who sent it and the site's managers."""
    return _image(*problems.photo_of(session, actor, report_id))


@router.get("/manage/alerts/{alert_id}/photo")
def alert_photo(alert_id: str, session: SessionDep, actor: ManagerActor) -> Response:
    """The photo of the report that opened an alert."""
    return _image(*problems.photo_of_alert(session, actor, alert_id))


@router.post("/kiosk/{site_id}/problems")
async def kiosk_report(
    request: Request,
    site_id: str,
    session: SessionDep,
    now: NowDep,
    actor: KioskActor,
    resource_id: Annotated[str, Form(max_length=64)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Anyone at the kiosk reports a problem with a machine or room of this site."""
    resource = catalogue_repo.get_resource(session, resource_id)
    try:
        if resource is None or resource.site_id != site_id:
            raise InvalidRequest("choose the machine or room the problem is with")
        data = await read_photo(photo)
        problems.report(session, resource.id, description, now, member_id=None, reporter="Kiosk", photo=data)
        session.commit()
    except DomainError as exc:
        session.rollback()
        message = say(exc.message, language_of(request, actor))
        return _kiosk_form(request, session, actor, site_id, status=status_of(exc), error=message)
    message = text(request, actor, "Thank you: the managers have been told.")
    return _kiosk_form(request, session, actor, site_id, status=201, notice=message)


def _kiosk_form(
    request: Request,
    session: Session,
    actor: Actor,
    site_id: str,
    *,
    status: int,
    notice: str = "",
    error: str = "",
) -> Response:
    resources = catalogue_repo.list_resources(session, site_id=site_id)
    return render(
        request,
        "kiosk/_problem.html",
        actor,
        status=status,
        site_id=site_id,
        problem_resources=resources,
        notice=notice,
        error=error,
    )
