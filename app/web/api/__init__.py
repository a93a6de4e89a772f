"""JSON REST API under ``/api/v1`` (web layer): one module per collection."""

from __future__ import annotations

from fastapi import APIRouter

from app.web.api import (
    audit,
    datasets,
    evaluations,
    experiment_results,
    experiments,
    exports,
    health,
    image_reviews,
    jobs,
    mapping_versions,
    mappings,
    models,
    suggestions,
    taxonomies,
    users,
)
from app.web.api._responses import document_error_responses

router = APIRouter(prefix="/api/v1")
for module in (
    health,
    users,
    taxonomies,
    mappings,
    mapping_versions,
    suggestions,
    audit,
    datasets,
    models,
    jobs,
    exports,
    image_reviews,
    evaluations,
    experiment_results,  # /experiments/compare must be matched before /experiments/{id}
    experiments,
):
    document_error_responses(module.router)
    router.include_router(module.router)
