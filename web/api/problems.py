"""Problem reports over the API: report a problem with a machine or a room (a member, or a site's
kiosk), follow one's own reports, fetch a report's photo."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from booking.catalogue import repository as catalogue_repo
from booking.errors import NotPermitted
from booking.models import Role
from booking.schemas import Timestamp
from devices.problems import service as problems
from devices.problems.rules import ReportState
from web.deps import ActorDep, NowDep, SessionDep
from web.uploads import read_photo

router = APIRouter(prefix="/api/v1", tags=["problems"])


class ProblemRead(BaseModel):
    id: str
    resource_id: str
    site: str
    description: str
    state: ReportState
    photo: bool
    created_at: Timestamp


@router.post("/problems", status_code=201)
async def report_problem(
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    resource_id: Annotated[str, Form(max_length=64)],
    description: Annotated[str, Form(max_length=2000)],
    photo: Annotated[UploadFile | None, File()] = None,
) -> ProblemRead:
    """Report a problem (multipart form: `resource_id`, `description`, optional `photo` JPEG/PNG/WebP);
    the site's managers get an alert. A kiosk reports for its own site, anonymously."""
    kiosk = actor.member.role is Role.kiosk
    if kiosk:
        resource = catalogue_repo.get_resource(session, resource_id)
        if resource is None or not actor.is_kiosk_of(resource.site_id):
            raise NotPermitted("a kiosk reports problems of its own site only")
    data = await read_photo(photo)
    problem = problems.report(
        session,
        resource_id,
        description,
        now,
        member_id=None if kiosk else actor.id,
        reporter="Kiosk" if kiosk else actor.member.name,
        photo=data,
    )
    session.commit()
    return _read(
        problem.id,
        problem.resource_id,
        problem.site_id,
        problem.description,
        ReportState.new,
        problem.photo_type is not None,
        problem.created_at,
    )


@router.get("/me/problems")
def my_problems(session: SessionDep, actor: ActorDep) -> list[ProblemRead]:
    """The problems I reported, newest first, each with where it stands."""
    return [
        _read(
            v.report.id,
            v.report.resource_id,
            v.report.site_id,
            v.report.description,
            v.state,
            v.report.photo_type is not None,
            v.report.created_at,
        )
        for v in problems.my_reports(session, actor.id)
    ]


@router.get("/problems/{report_id}/photo", response_class=Response)
def problem_photo(report_id: str, session: SessionDep, actor: ActorDep) -> Response:
    """A report's photo (its member and the site's managers)."""
    data, media_type = problems.photo_of(session, actor, report_id)
    return Response(data, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})


def _read(
    report_id: str,
    resource_id: str,
    site: str,
    description: str,
    state: ReportState,
    photo: bool,
    at: datetime,
) -> ProblemRead:
    return ProblemRead(
        id=report_id,
        resource_id=resource_id,
        site=site,
        description=description,
        state=state,
        photo=photo,
        created_at=at,
    )
