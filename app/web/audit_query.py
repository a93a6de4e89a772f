"""The audit's thresholds as query parameters (web layer), shared by ``GET /api/v1/mappings/{id}/audit``
and the editor's and review page's Audit section (``/mappings/{id}/audit-panel``, ``…/audit/apply``):
one set of names, ranges, defaults and descriptions (:class:`app.domain.audit.AuditThresholds`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from app.domain.audit import MAX_CONTRAST, AuditThresholds

DEFAULTS = AuditThresholds()
MAX_PIXELS = 10**12  # more pixels than any survey holds: a larger min_pixels only means "no verdict"


def _share(description: str) -> object:
    return Query(ge=0.0, le=1.0, description=f"{description} (0..1 of a label's surveyed pixels)")


def audit_thresholds(
    min_pixels: Annotated[
        int, Query(ge=0, le=MAX_PIXELS, description="Fewer surveyed pixels: no verdict for the label")
    ] = DEFAULTS.min_pixels,
    contradicted_max: Annotated[
        float, _share("Contradicted: the allowed targets together get less than this")
    ] = DEFAULTS.contradicted_max,
    dominant_min: Annotated[
        float, _share("... and other classes together at least this")
    ] = DEFAULTS.dominant_min,
    propose_min: Annotated[
        float, _share("... counting (and proposing) the classes with at least this each")
    ] = DEFAULTS.propose_min,
    unused_max: Annotated[
        float, _share("Unused: one of several allowed targets gets less than this")
    ] = DEFAULTS.unused_max,
    void_confident_min: Annotated[
        float, _share("A void-only label with one class at least this: predicted confidently")
    ] = DEFAULTS.void_confident_min,
    unused_contrast: Annotated[
        float,
        Query(
            ge=0.0,
            le=MAX_CONTRAST,
            description="An allowed target under unused_max is not unused when it gets at least the "
            "suggestions' data floor and is predicted this many times as often on the label as on the "
            "others (0: off)",
        ),
    ] = DEFAULTS.unused_contrast,
) -> AuditThresholds:
    """The audit's thresholds from the query string."""
    return AuditThresholds(
        min_pixels,
        contradicted_max,
        dominant_min,
        propose_min,
        unused_max,
        void_confident_min,
        unused_contrast,
    )


Thresholds = Annotated[AuditThresholds, Depends(audit_thresholds)]
