"""Bulk rejection by rule on a run's review page (web layer): preview count, then confirm.

The form sends thresholds in percent (correction rate above x %, void share above y %). Without
``confirm`` the answer is the preview ("this rejects 37 images") with a Confirm button that posts
the same rule with ``confirm=1``; confirming rejects the undecided images and shows the rejected
ones. Images someone already decided are never changed by a rule.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.domain.errors import InvalidInput
from app.domain.image_review import BulkRule
from app.services import image_reviews as service
from app.services import jobs as job_service
from app.web.auth import EditorUser
from app.web.deps import SessionDep
from app.web.htmx import hx_redirect
from app.web.pages._render import flash, fragment, render_text

router = APIRouter(include_in_schema=False)


def _percent(text: str, field: str, errors: dict[str, str]) -> float | None:
    text = text.strip().removesuffix("%").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors[field] = f"{text!r} is not a number of percent"
        return None
    if not 0.0 <= value <= 100.0:
        errors[field] = f"give a percentage between 0 and 100, not {value:g}"
        return None
    return value / 100.0


@router.post("/jobs/{job_id}/review/bulk-reject", response_class=HTMLResponse)
def bulk_reject_page(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    job_id: int,
    correction_above: Annotated[str, Form(max_length=20)] = "",
    void_above: Annotated[str, Form(max_length=20)] = "",
    confirm: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """The preview (count) of a rule, or, with ``confirm``, its application."""
    job_service.get_job(session, job_id)
    errors: dict[str, str] = {}
    form = {"correction_above": correction_above, "void_above": void_above}
    ctx: dict[str, Any] = {"job_id": job_id, "form": form}
    rule = None
    correction = _percent(correction_above, "correction_above", errors)
    void = _percent(void_above, "void_above", errors)
    if not errors:
        try:
            rule = BulkRule(correction, void)
        except InvalidInput as exc:
            errors[exc.field or "correction_above"] = exc.message
    if rule is None:
        html = render_text(request, "jobs/_bulk_reject.html", errors=errors, **ctx)
        return fragment(request, html, status_code=422, reswap="innerHTML")
    result = service.bulk_reject(session, job_id, rule, dry_run=not confirm, author=user)
    if confirm:
        flash(request, f"Rejected {len(result.rejected):,} images ({rule.describe()})")
        return hx_redirect(request, f"/jobs/{job_id}/review?review=rejected#review-gallery")
    html = render_text(request, "jobs/_bulk_reject.html", errors={}, rule=rule, result=result, **ctx)
    return fragment(request, html)
