"""Role helpers for the HTML pages (web layer).

Server-side rules: viewers read, editors edit and submit, reviewers (and admins) approve/reject.
The write handlers depend on ``app.web.auth.require_role`` (which also checks the CSRF token); the
helpers here only decide what the templates offer.
"""

from __future__ import annotations

from app.db.models import User
from app.services.users import has_role


def can_edit(user: User | None) -> bool:
    return has_role(user, "editor")


def can_review(user: User | None) -> bool:
    return has_role(user, "reviewer")
