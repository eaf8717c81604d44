"""Signing in and out of the pages, and the language switch."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from booking import accounts
from booking.errors import DomainError, NotPermitted, TooManyAttempts, Unauthenticated
from booking.members import service as members
from booking.members.actors import Actor
from booking.members.rules import looks_like_email
from booking.models import Member
from booking.security import verify_password_queued
from web.api.auth import SignUp, read_reset_token, reset_link, verify_token
from web.api.auth import sign_up as api_sign_up
from web.csrf import rotate
from web.deps import NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.errors import status_of
from web.i18n import Gettext, normalise, say
from web.pages.common import (
    AnyActor,
    MaybeActor,
    home_of,
    language_of,
    render,
    safe_next,
    see_other,
    signed_in_actor,
)
from web.settings import Settings

router = APIRouter(include_in_schema=False)


@router.get("/signin")
def signin_page(request: Request, actor: MaybeActor, next: str = "") -> Response:
    """The sign-in form (someone already signed in goes on to their page)."""
    if actor is not None:
        return see_other(safe_next(next, home_of(actor)))
    return render(request, "auth/signin.html", None, next=safe_next(next, ""), email="", error=None)


@router.post("/signin")
async def signin(
    request: Request,
    reader: ReadSessionDep,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the e-mail and password (rate-limited by the service) and start a session."""
    try:
        attempt = await run_in_threadpool(
            members.begin_sign_in,
            reader,
            email,
            now,
            address=request.client.host if request.client else "",
            max_failures=settings.login_max_failures,
            window=timedelta(seconds=settings.login_window_s),
            max_per_address=settings.login_max_per_address,
        )
        # Checked holding no transaction and no worker thread (see api/auth.py).
        matches = await asyncio.wrap_future(verify_password_queued(attempt.password_hash, password))
        address = request.client.host if request.client else ""
        member, actor = await run_in_threadpool(_finish, session, attempt, matches, now, address)
    except (Unauthenticated, TooManyAttempts) as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 401
        return render(
            request,
            "auth/signin.html",
            None,
            status=status,
            next=safe_next(next, ""),
            email=email,
            error=say(exc.message, language_of(request, None)),
        )
    # A fresh session: nothing a visitor had before signing in (or a planted cookie) carries over.
    request.session.clear()
    request.session.update({"member": member.id, "v": member.token_version, "lang": member.language})
    rotate(request.session)
    return see_other(safe_next(next, home_of(actor)))


def _finish(
    session: Session, attempt: members.SignIn, matches: bool, now: datetime, address: str
) -> tuple[Member, Actor]:
    try:
        member = members.finish_sign_in(session, attempt, matches, now, address=address)
    finally:
        # The failure is recorded even though sign-in fails: that is what rate-limits.
        session.commit()
    return member, members.load_actor(session, member)


@router.post("/signout")
def signout(request: Request, actor: AnyActor, session: SessionDep) -> Response:
    """End the session on the server (a copied cookie stops working too), then on this browser.
    It ends the member's other sessions and tokens as well: sign-out means signed out everywhere."""
    members.end_sessions(session, actor.id)
    session.commit()
    request.app.state.actors.forget(actor.id)
    language = request.session.get("lang")
    request.session.clear()
    if language:
        request.session["lang"] = language
    rotate(request.session)
    return see_other("/signin")


@router.post("/language")
def set_language(
    request: Request,
    session: SessionDep,
    lang: Annotated[str, Form(max_length=8)] = "vi",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Switch the pages' language; remembered on the member's account when signed in."""
    language = normalise(lang)
    request.session["lang"] = language
    actor = signed_in_actor(request, session)
    if actor is not None:
        member = members.get_member_or_raise(session, actor.id)
        members.set_language(session, member, language)
        session.commit()
    return see_other(safe_next(next))


# --- a forgotten password -------------------------------------------------------------------------


@router.get("/forgot-password")
def forgot_page(request: Request, actor: MaybeActor) -> Response:
    """Ask for a link to choose a new password."""
    return render(request, "auth/forgot.html", None, email="", sent=False, error=None)


@router.post("/forgot-password")
def forgot(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Queue the e-mail; the page says the same whether or not the address has an account."""
    try:
        accounts.request_password_reset(
            session,
            email,
            now,
            reset_link(request),
            address=request.client.host if request.client else "",
            window=timedelta(seconds=settings.login_window_s),
            max_per_address=settings.login_max_per_address,
        )
        session.commit()
    except TooManyAttempts as exc:
        session.rollback()
        message = say(exc.message, language_of(request, None))
        return render(request, "auth/forgot.html", None, status=429, email=email, sent=False, error=message)
    return render(request, "auth/forgot.html", None, email=email, sent=True, error=None)


@router.get("/reset-password")
def reset_page(request: Request, reader: ReadSessionDep, token: str = "") -> Response:
    """The form for the new password, if the link still works."""
    error = _link_problem(request, reader, token)
    return render(
        request,
        "auth/reset.html",
        None,
        token=token,
        usable=error is None,
        error=error,
        status=200 if error is None else 400,
    )


def _link_problem(request: Request, reader: Session, token: str) -> str | None:
    """Why the link cannot be used (in the reader's language), or None."""
    try:
        accounts.check_reset_link(reader, *read_reset_token(request, token))
    except DomainError as exc:
        return say(exc.message, language_of(request, None))
    return None


@router.post("/reset-password")
async def reset(
    request: Request,
    reader: ReadSessionDep,
    session: SessionDep,
    token: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Save the new password; every other session of the account ends; then sign in with it."""
    language = language_of(request, None)
    try:
        member_id, fingerprint = read_reset_token(request, token)
        member = await run_in_threadpool(members.get_member_or_raise, reader, member_id)
        password_hash = await run_in_threadpool(
            members.new_password_hash, password, known=(member.email, member.name)
        )
        await run_in_threadpool(_save_password, session, member_id, fingerprint, password, password_hash)
        request.app.state.actors.forget(member_id)
    except DomainError as exc:
        usable = not isinstance(exc, accounts.LinkInvalid)
        return render(
            request,
            "auth/reset.html",
            None,
            status=422,
            token=token,
            usable=usable,
            error=say(exc.message, language),
        )
    request.session.setdefault("flash", []).append(
        Gettext(language).gettext("Your password was changed. Sign in with the new one.")
    )
    return see_other("/signin")


def _save_password(
    session: Session, member_id: str, fingerprint: str, password: str, password_hash: str
) -> None:
    try:
        accounts.finish_password_reset(session, member_id, fingerprint, password, password_hash=password_hash)
        session.commit()
    except DomainError:
        session.rollback()
        raise


# --- opening an account -----------------------------------------------------------------------------


@router.get("/signup")
def signup_page(request: Request, actor: MaybeActor, settings: SettingsDep) -> Response:
    """The form to open an account (someone signed in goes on to their page)."""
    if actor is not None:
        return see_other(home_of(actor))
    return _signup_form(request, settings, SignUpForm())


class SignUpForm:
    """What was typed into the sign-up form, and the refusals beside its fields."""

    def __init__(self, name: str = "", email: str = "", language: str = "vi") -> None:
        self.name, self.email, self.language = name, email, language
        self.errors: dict[str, str] = {}


def _signup_form(request: Request, settings: Settings, form: SignUpForm, status: int = 200) -> Response:
    return render(
        request, "auth/signup.html", None, status=status, form=form, open=settings.signup_open, sent=False
    )


@router.post("/signup")
async def signup(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    language: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Open the account and e-mail the link that confirms the address; refusals stand beside their
    field, with what was typed kept (the password is typed again)."""
    reader_language = language_of(request, None)
    form = SignUpForm(" ".join(name.split()), email.strip(), normalise(language or reader_language))
    gettext = Gettext(reader_language).gettext
    if not form.name:
        form.errors["name"] = gettext("Write your name as people call you.")
    if not looks_like_email(form.email):
        form.errors["email"] = gettext("This does not look like an e-mail address (name@example.com).")
    if form.errors:
        return _signup_form(request, settings, form, status=422)
    try:
        data = SignUp(name=form.name, email=form.email, password=password, language=form.language)
        await api_sign_up(request, session, settings, now, data)
    except ValidationError:
        form.errors["name"] = gettext("Write your name as people call you.")
        return _signup_form(request, settings, form, status=422)
    except TooManyAttempts as exc:
        form.errors["form"] = say(exc.message, reader_language)
        return _signup_form(request, settings, form, status=429)
    except DomainError as exc:
        field = "form" if isinstance(exc, NotPermitted) else "password"
        form.errors[field] = say(exc.message, reader_language)
        return _signup_form(request, settings, form, status=status_of(exc))
    return render(request, "auth/signup.html", None, form=form, open=True, sent=True)


@router.get("/verify-email")
def verify_email(request: Request, session: SessionDep, now: NowDep, token: str = "") -> Response:
    """The link of the sign-up e-mail: the address is confirmed and the account works (once)."""
    language = language_of(request, None)
    try:
        member_id, email = verify_token(request, token, "signup")
        member = accounts.verify_email(session, member_id, email, now)
        awaits = member.approved_at is None
        session.commit()
    except DomainError as exc:
        session.rollback()
        return render(request, "auth/confirmed.html", None, status=400, error=say(exc.message, language))
    return render(request, "auth/confirmed.html", None, error=None, email=email, awaits=awaits, change=False)


@router.get("/confirm-email")
def confirm_email(request: Request, session: SessionDep, token: str = "") -> Response:
    """The link sent to a new address: it becomes the account's (once)."""
    language = language_of(request, None)
    try:
        member_id, email = verify_token(request, token, "address")
        accounts.confirm_address_change(session, member_id, email)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return render(request, "auth/confirmed.html", None, status=400, error=say(exc.message, language))
    request.app.state.actors.forget(member_id)
    return render(request, "auth/confirmed.html", None, error=None, email=email, awaits=False, change=True)
