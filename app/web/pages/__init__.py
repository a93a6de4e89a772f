"""HTML pages and HTMX fragments (web layer): same resources as the JSON API, another representation.

``router`` combines the page routers; ``app.web.main`` includes it. ``templates`` is the Jinja
environment the pages render with (globals ``static_url``, filter ``ago``).
"""

from __future__ import annotations

from fastapi import APIRouter

from app.web.pages import (
    dataset_exports,
    dataset_survey,
    datasets,
    evaluation,
    experiment_compare,
    experiment_forms,
    experiments,
    home,
    job_exports,
    job_forms,
    job_review,
    job_review_bulk,
    jobs,
    mapping_audit,
    mapping_editor,
    mapping_suggestions,
    mapping_versions,
    mappings,
    models,
    reviews,
    taxonomies,
    training,
)
from app.web.pages._render import templates

router = APIRouter(include_in_schema=False)
router.include_router(home.router)
router.include_router(taxonomies.router)
router.include_router(reviews.router)
# /mappings/new and /mappings/import must be matched before /mappings/{mapping_id}
router.include_router(mappings.router)
router.include_router(mapping_versions.router)
router.include_router(mapping_editor.router)
router.include_router(mapping_suggestions.router)
router.include_router(mapping_audit.router)  # the audit section (issue 15)
router.include_router(datasets.router)
router.include_router(dataset_survey.router)  # survey a dataset (issue 15)
router.include_router(dataset_exports.router)  # export a dataset's ground truth (issue 14)
router.include_router(models.router)
# /jobs/new must be matched before /jobs/{job_id}
router.include_router(job_forms.router)
router.include_router(jobs.router)
router.include_router(job_exports.router)  # POST /jobs/{id}/export (issue 14)
router.include_router(job_review.router)
router.include_router(job_review_bulk.router)
router.include_router(training.router)  # /training/new and the /jobs/{id}/training panel
router.include_router(evaluation.router)  # /evaluations, /evaluations/compare, /jobs/{id}/evaluation
# /experiments/new must be matched before /experiments/{experiment_id} (issue 12)
router.include_router(experiment_forms.router)
router.include_router(experiment_compare.router)  # /experiments/compare (issue 12)
router.include_router(experiments.router)

__all__ = ["router", "templates"]
