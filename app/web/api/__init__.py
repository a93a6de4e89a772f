"""JSON REST API under ``/api/v1`` (web layer): one module per collection."""

from __future__ import annotations

from fastapi import APIRouter

from app.web.api import datasets, health, jobs, mapping_versions, mappings, models, taxonomies, users

router = APIRouter(prefix="/api/v1")
router.include_router(health.router)
router.include_router(users.router)
router.include_router(taxonomies.router)
router.include_router(mappings.router)
router.include_router(mapping_versions.router)
router.include_router(datasets.router)
router.include_router(models.router)
router.include_router(jobs.router)
