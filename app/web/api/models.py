"""Model (teacher/student) REST endpoints (web layer): register, list, read, delete."""

from __future__ import annotations

from fastapi import APIRouter

from app.schemas.models import ModelCreate, ModelList, ModelRead
from app.services import models as service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import PageDep, SessionDep, SettingsDep

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=ModelList)
def list_models(session: SessionDep, _user: ReadUser, page: PageDep) -> ModelList:
    """List registered models."""
    rows, total = service.list_models(session, limit=page.limit, offset=page.offset)
    return ModelList(
        items=[ModelRead(**service.model_payload(r)) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("", response_model=ModelRead, status_code=201)
def create_model(
    body: ModelCreate, session: SessionDep, settings: SettingsDep, user: EditorUser
) -> ModelRead:
    """Register a model; a folder's class list must equal the target taxonomy's (both shown if not)."""
    return ModelRead(
        **service.model_payload(
            service.register_model(session, body=body, settings=settings, user_id=user.id)
        )
    )


@router.get("/{model_id}", response_model=ModelRead)
def read_model(model_id: int, session: SessionDep, _user: ReadUser) -> ModelRead:
    """Read a model."""
    return ModelRead(**service.model_payload(service.get_model(session, model_id)))


@router.delete("/{model_id}", status_code=204)
def delete_model(model_id: int, session: SessionDep, _user: EditorUser) -> None:
    """Delete a model registration (its files are left alone)."""
    service.delete_model(session, model_id)
