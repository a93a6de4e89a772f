"""Authentication and authorisation (web layer): server-side sessions, CSRF, bearer tokens, roles.

API for routers and pages:
    OptionalUser          -- ``User | None``: who is calling (bearer token or session cookie).
    CurrentUser           -- ``User``; 401 (API) or a redirect to /login (HTML) when anonymous.
    ReadUser              -- ``User | None``; anonymous allowed only when ``UNILABEL_PUBLIC_READ=true``.
    require_role(role)    -- dependency factory: an active user with ``role`` or higher (403 otherwise);
                             on unsafe methods with cookie auth it also checks the CSRF token.
    EditorUser, ReviewerUser, AdminUser -- ``Annotated`` aliases of ``require_role(...)``.
    csrf_token(request)   -- the session's CSRF token (created on first use); put it in forms as
                             ``<input type="hidden" name="csrf_token" value="...">`` or send it as the
                             ``X-CSRF-Token`` header (e.g. ``hx-headers`` on <body>).
    CsrfChecked           -- dependency that verifies the token for cookie-authenticated writes.
    login_session(request, session, user) / logout_session(request, session)

Routes (``router``):
    GET  /login/token?token=...&next=/   -- consume a one-time login token, set the cookie, redirect
                                            (to ``/login?expired=1`` when the token is not usable)
    POST /login   (form: username, password | token, csrf_token, next) -- password or token login;
                  on failure redirects to ``/login?error=1&next=...``; while the account name or
                  the client address is throttled, to ``/login?retry_after=N&next=...`` (with a
                  ``Retry-After`` header) without checking the password
    POST /logout  (form: csrf_token)      -- revoke the server-side session, redirect to /login

Browser sessions: the signed cookie (Starlette's ``SessionMiddleware``) holds the CSRF token and a
random session id; ``app.services.sessions`` checks the id against its ``user_session`` row on every
request, so logout, a password or role change and deactivation end every copy of the cookie.

Bearer requests (``Authorization: Bearer <token>``) never need CSRF tokens: browsers do not
attach that header on their own. The GET login page itself is rendered by ``app.web.pages``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import User
from app.domain.errors import NotAuthenticated, PermissionDenied
from app.domain.login_throttle import ThrottlePolicy
from app.services import login_throttle as throttle_service
from app.services import sessions as session_service
from app.services import users as user_service
from app.web.deps import SessionDep, SettingsDep

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_SESSION_KEY = "csrf"
SESSION_ID_KEY = "sid"
FIRST_LOGIN_KEY = "first_login"  # set by login_session when the user never had a session before
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

router = APIRouter(tags=["auth"])


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser session (created on first use)."""
    token = request.session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return str(token)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def verify_csrf(request: Request) -> None:
    """Refuse cookie-authenticated writes without the session's CSRF token (header or form field)."""
    if request.method not in UNSAFE_METHODS or _bearer(request) is not None:
        return
    if SESSION_ID_KEY not in request.session and request.url.path.startswith("/api/"):
        return  # anonymous API call: authentication fails later with 401
    expected = request.session.get(CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if sent is None and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FORM_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(str(expected), sent):
        raise PermissionDenied(
            "missing or invalid CSRF token; reload the page and try again", field=CSRF_FORM_FIELD
        )


CsrfChecked = Annotated[None, Depends(verify_csrf)]


def get_optional_user(request: Request, session: SessionDep, settings: SettingsDep) -> User | None:
    """The caller: a bearer token wins over the cookie; an invalid token is an error, not anonymity.

    A cookie whose server-side session was revoked or expired (or whose user was deactivated) makes
    the caller anonymous, and its session id is dropped from the cookie.
    """
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    token = _bearer(request)
    user: User | None = None
    if token is not None:
        user = user_service.authenticate_token(
            session, token, touch_interval_s=settings.auth_touch_interval_s
        )
        if user is None:
            raise NotAuthenticated("the bearer token is invalid, expired or revoked")
        request.state.auth_via = "bearer"
    elif SESSION_ID_KEY in request.session:
        user = session_service.resolve_session(
            session,
            str(request.session[SESSION_ID_KEY]),
            max_age_s=settings.session_max_age_s,
            touch_interval_s=settings.auth_touch_interval_s,
        )
        if user is not None:
            request.state.auth_via = "session"
        else:
            request.session.pop(SESSION_ID_KEY, None)
    request.state.user = user
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


async def get_current_user(user: OptionalUser) -> User:
    if user is None:
        raise NotAuthenticated("log in or send an API token (Authorization: Bearer ...)")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_read_user(user: OptionalUser, settings: SettingsDep) -> User | None:
    if user is None and not settings.public_read:
        raise NotAuthenticated("log in or send an API token to read (UNILABEL_PUBLIC_READ is off)")
    return user


ReadUser = Annotated[User | None, Depends(get_read_user)]


def require_role(role: str) -> Callable[..., Awaitable[User]]:
    """A dependency returning the current user when it holds ``role`` (viewer<editor<reviewer<admin)."""
    user_service.role_rank(role)

    # async: no I/O here, so no thread-pool hop (the user was loaded by get_optional_user).
    async def dependency(user: CurrentUser, _csrf: CsrfChecked) -> User:
        if not user_service.has_role(user, role):
            raise PermissionDenied(
                f"this action needs the {role} role; you are {user.role}", details={"required_role": role}
            )
        return user

    dependency.__name__ = f"require_{role}"
    return dependency


EditorUser = Annotated[User, Depends(require_role("editor"))]
ReviewerUser = Annotated[User, Depends(require_role("reviewer"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]


def _client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


def login_session(request: Request, session: Session, user: User) -> None:
    """Start a fresh browser session for ``user`` (a new id and CSRF token; no session fixation).

    A session the browser already had (perhaps another user's) is revoked first.
    """
    settings: Settings = request.app.state.settings
    logout_session(request, session)
    first_login = not session_service.has_logged_in_before(session, user.id)
    request.session[SESSION_ID_KEY] = session_service.start_session(
        session,
        user=user,
        max_age_s=settings.session_max_age_s,
        user_agent=request.headers.get("user-agent"),
        client_addr=_client_addr(request),
    )
    request.session["auth_at"] = int(time.time())
    if first_login:  # the home page says "Welcome" (not "Welcome back") during this first session
        request.session[FIRST_LOGIN_KEY] = True
    csrf_token(request)


def is_first_login(request: Request) -> bool:
    """Whether this browser session is the user's first login (the home page greets accordingly)."""
    return bool(request.session.get(FIRST_LOGIN_KEY))


def logout_session(request: Request, session: Session) -> None:
    """Revoke this browser's server-side session (every copy of the cookie) and clear the cookie."""
    session_id = request.session.get(SESSION_ID_KEY)
    if session_id:
        session_service.end_session(session, str(session_id))
    request.session.clear()


def _throttle_policy(settings: Settings) -> ThrottlePolicy:
    return ThrottlePolicy(
        free_failures=settings.login_throttle_free_failures,
        client_free_failures=settings.login_throttle_client_free_failures,
        base_delay_s=settings.login_throttle_base_delay_s,
        max_delay_s=settings.login_throttle_max_delay_s,
        window_s=settings.login_throttle_window_s,
    )


def safe_next(next_url: str | None) -> str:
    """Only local paths: an open redirect would turn the login link into a phishing tool."""
    if next_url and next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return "/"


_safe_next = safe_next  # older spelling, kept for callers


@router.get("/login/token", include_in_schema=False)
def login_with_token(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Query(min_length=1)],
    next: Annotated[str | None, Query()] = None,
) -> RedirectResponse:
    """Consume a one-time login token (the URL printed by ``unilabel serve``) and log in.

    An invalid, expired or used token redirects to ``/login?expired=1`` (never back here: a ``next``
    pointing at a used token would loop).
    """
    try:
        user = user_service.consume_login_token(session, token)
    except NotAuthenticated:
        return RedirectResponse("/login?expired=1", status_code=303)
    login_session(request, session, user)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _csrf: CsrfChecked,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> RedirectResponse:
    """Log in with a user name and password, or by pasting an API or one-time login token."""
    user: User | None = None
    if token.strip():
        user = user_service.authenticate_token(session, token)
        if user is None:
            try:
                user = user_service.consume_login_token(session, token)
            except NotAuthenticated:
                user = None
    elif username.strip() and password:
        try:
            user = throttle_service.login_with_password(
                session,
                name=username,
                password=password,
                client=_client_addr(request),
                policy=_throttle_policy(settings),
            )
        except throttle_service.LoginThrottled as exc:
            return RedirectResponse(
                f"/login?retry_after={exc.retry_after_s}&next={quote(safe_next(next))}",
                status_code=303,
                headers={"Retry-After": str(exc.retry_after_s)},
            )
    if user is None:
        return RedirectResponse(f"/login?error=1&next={quote(safe_next(next))}", status_code=303)
    login_session(request, session, user)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: SessionDep, _csrf: CsrfChecked) -> RedirectResponse:
    logout_session(request, session)
    return RedirectResponse("/login", status_code=303)


def template_context(request: Request) -> dict[str, Any]:
    """Values every page template needs: the current user (if resolved) and the CSRF token."""
    return {"current_user": getattr(request.state, "user", None), "csrf_token": csrf_token(request)}
