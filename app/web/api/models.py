"""Model (teacher/student) REST endpoints (web layer): register, list, read, delete, trust."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import TypeAdapter, ValidationError

from app.schemas.models import ModelCreate, ModelList, ModelRead, ModelTrust
from app.services import model_trust
from app.services import models as service
from app.services.users import has_role
from app.web.auth import AdminUser, EditorUser, ReadUser
from app.web.deps import IdPath, PageDep, SessionDep, SettingsDep

router = APIRouter(prefix="/models", tags=["models"])
_BOOL = TypeAdapter(bool)


def _asks_trust(value: Any) -> bool:
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        return False  # not a boolean: the body's validation names the field


async def trust_needs_admin(request: Request, user: EditorUser) -> None:
    """403 for a non-admin's ``trust_pickle: true``, before the body is otherwise validated."""
    try:
        data = await request.json()
    except ValueError:
        return
    if isinstance(data, dict) and _asks_trust(data.get("trust_pickle")) and not has_role(user, "admin"):
        model_trust.require_admin(None)


TrustChecked = Annotated[None, Depends(trust_needs_admin)]


@router.get("", response_model=ModelList)
def list_models(session: SessionDep, _user: ReadUser, page: PageDep) -> ModelList:
    """List registered models."""
    rows, total = service.list_models(session, limit=page.limit, offset=page.offset)
    return ModelList(
        items=[ModelRead(**p) for p in service.model_payloads(session, rows)],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("", response_model=ModelRead, status_code=201)
def create_model(
    body: ModelCreate, session: SessionDep, settings: SettingsDep, user: EditorUser, _trust: TrustChecked
) -> ModelRead:
    """Register a model; a folder's class list must equal the target taxonomy's (both shown if not)."""
    row = service.register_model(session, body=body, settings=settings, user=user)
    return ModelRead(**service.model_payloads(session, [row])[0])


@router.get("/{model_id}", response_model=ModelRead)
def read_model(model_id: IdPath, session: SessionDep, _user: ReadUser) -> ModelRead:
    """Read a model, with its trust state (who trusted it, when, the file's sha256)."""
    return ModelRead(**service.model_payloads(session, [service.get_model(session, model_id)])[0])


@router.post("/{model_id}/trust", response_model=ModelRead)
def trust_model(
    model_id: IdPath,
    session: SessionDep,
    user: AdminUser,
    body: Annotated[ModelTrust | None, Body()] = None,
) -> ModelRead:
    """Admins only: trust a paper .pth as it is now (sha256 recorded); a worker converts it once."""
    row = model_trust.trust_model(session, model_id=model_id, user=user, note=body.note if body else "")
    return ModelRead(**service.model_payloads(session, [row])[0])


@router.delete("/{model_id}", status_code=204)
def delete_model(model_id: IdPath, session: SessionDep, _user: EditorUser) -> None:
    """Delete a model registration (its files are left alone)."""
    service.delete_model(session, model_id)
