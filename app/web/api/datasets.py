"""Dataset REST endpoints (web layer): register, list, read, scan, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from app.schemas.datasets import DatasetCreate, DatasetList, DatasetPresetRead, DatasetRead, ScanResponse
from app.schemas.jobs import ConvertLabelsParams, ScanDatasetParams
from app.services import dataset_presets as preset_service
from app.services import datasets as service
from app.services import jobs as job_service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import IdPath, PageDep, SessionDep, SettingsDep

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("", response_model=DatasetList)
def list_datasets(session: SessionDep, _user: ReadUser, page: PageDep) -> DatasetList:
    """List registered datasets."""
    rows, total = service.list_datasets(session, limit=page.limit, offset=page.offset)
    return DatasetList(
        items=[DatasetRead(**service.dataset_payload(r)) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/presets", response_model=list[DatasetPresetRead])
def list_dataset_presets(_user: ReadUser) -> list[DatasetPresetRead]:
    """List the dataset presets (published layouts of the paper's datasets) for ``POST /datasets``."""
    return preset_service.list_presets()


@router.post("", response_model=DatasetRead, status_code=201)
def create_dataset(
    body: DatasetCreate, session: SessionDep, settings: SettingsDep, user: EditorUser
) -> DatasetRead:
    """Register a dataset folder (a preset + root, or a pairing rule) and scan it (large ones: as a job).

    Native labels (Cityscapes polygons, COCO panoptic) are not scanned now: a ``convert_labels``
    job (``conversion_job_id``) converts them into label-id PNGs and then scans the dataset.
    """
    row = service.register_dataset(session, body=body, settings=settings, user_id=user.id)
    if row.label_converter:
        params = ConvertLabelsParams(dataset_id=row.id)
        job = job_service.submit_job(session, params=params, settings=settings, user_id=user.id)
        return DatasetRead(**service.dataset_payload(row), conversion_job_id=job.id)
    scan_job_id = None
    if body.scan:
        pairs = len(service.pair_dataset(row).pairs)
        if pairs <= service.INLINE_SCAN_LIMIT:
            service.scan_dataset(session, row.id)
        else:
            job = job_service.submit_job(
                session, params=ScanDatasetParams(dataset_id=row.id), settings=settings, user_id=user.id
            )
            scan_job_id = job.id
    return DatasetRead(**service.dataset_payload(row), scan_job_id=scan_job_id)


@router.get("/{dataset_id}", response_model=DatasetRead)
def read_dataset(dataset_id: IdPath, session: SessionDep, _user: ReadUser) -> DatasetRead:
    """Read a dataset with its last scan report."""
    return DatasetRead(**service.dataset_payload(service.get_dataset(session, dataset_id)))


@router.post("/{dataset_id}/scan", response_model=ScanResponse)
def scan_dataset(
    dataset_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    background: Annotated[bool, Query(description="Run the scan as a job on a worker")] = False,
) -> ScanResponse:
    """Re-scan a dataset's files now (or as a scan job)."""
    row = service.get_dataset(session, dataset_id)
    if background or len(service.pair_dataset(row).pairs) > service.INLINE_SCAN_LIMIT:
        job = job_service.submit_job(
            session, params=ScanDatasetParams(dataset_id=row.id), settings=settings, user_id=user.id
        )
        return ScanResponse(dataset_id=dataset_id, job_id=job.id)
    return ScanResponse(dataset_id=dataset_id, report=service.scan_dataset(session, dataset_id))


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: IdPath, session: SessionDep, _user: EditorUser) -> None:
    """Delete a dataset registration (its files are left alone)."""
    service.delete_dataset(session, dataset_id)


@router.get("/{dataset_id}/files/{path:path}", response_class=FileResponse)
def read_dataset_file(dataset_id: IdPath, path: str, session: SessionDep, _user: ReadUser) -> FileResponse:
    """One file of the dataset (image or ground-truth label), e.g. for the result review gallery."""
    return FileResponse(service.dataset_file_path(session, dataset_id, path))
