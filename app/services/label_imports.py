"""Import of corrected masks (services layer, issue 14): a CVAT "Segmentation mask 1.1" zip back
as a new label-set version of a run.

The version is a ``label_import`` job row (succeeded at once) with an output folder of the run's
layout: ``labels/`` (the run's label PNGs, those with a corrected mask replaced), ``pairs.jsonl``,
``manifest.jsonl`` (each record says ``corrected_by_hand`` and how many pixels changed) and
``summary.json`` (provenance: the run, the archive's SHA-256, who imported it). So it exports and
trains like a run (a ``pseudo_labels`` training set with its ``job_id``).

Masks are matched to the run's images by CVAT item name (the image's path without extension, as
exported), or else by a unique file stem; colours are read through the zip's ``labelmap.txt``.
Anything that does not fit (not a zip, no labelmap, an unknown colour or label, a mask of no image
of the run, a size that differs) is refused with a 422 naming it, and nothing is written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import repositories_label_imports as label_import_repo
from app.db.models_registry import Job
from app.domain import exports as fmt
from app.domain.errors import Conflict, InvalidInput
from app.domain.hashing import sha256_of_stream
from app.domain.jobs import JobStatus
from app.domain.label_codec import output_dtype, void_value
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services.exports import get_run

MAX_MASKS = 200_000
NUMBER_TRIES = 20


def import_cvat(
    session: Session, settings: Settings, *, job_id: int, archive: BinaryIO, user_id: int | None
) -> Job:
    """A new ``label_import`` job holding the run's labels with the corrected masks applied."""
    run = get_run(session, job_id)
    digest = sha256_of_stream(archive)
    archive.seek(0)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise InvalidInput("the upload is not a zip archive", field="file") from None
    with zf:
        prefix, labelmap = _labelmap(zf)
        masks = _masks(zf, prefix)
        records = _records(Path(str(run.output_dir)))
        matched = _match(masks, records)
        model = model_service.get_model(session, int(run.model_id or 0))
        taxonomy = taxonomy_service.load_taxonomy(session, model.taxonomy_id)
        classes = fmt.export_classes(taxonomy)
        void, dtype = void_value(len(taxonomy.labels)), output_dtype(len(taxonomy.labels))
        corrected: dict[str, np.ndarray] = {}
        changes: dict[str, int] = {}
        run_dir = Path(str(run.output_dir))
        for member, record in matched:
            image = str(record["image"])
            rgb = _read_rgb(zf, member, image)
            with Image.open(run_dir / "labels" / str(record["output"])) as im:
                before = np.asarray(im)
            if rgb.shape[:2] != before.shape:
                raise InvalidInput(
                    f"mask of {image!r} is {rgb.shape[1]}x{rgb.shape[0]}, the image's label is "
                    f"{before.shape[1]}x{before.shape[0]}",
                    field="file",
                )
            ids = fmt.decode_color_mask(rgb, labelmap, classes, void, image=image)
            changes[image] = int(np.count_nonzero(ids != before))
            if changes[image]:
                corrected[image] = ids.astype(dtype)
    root_run = int(json.loads(run.params_json or "{}").get("run_job_id") or run.id)
    job = Job(
        kind="label_import",
        status=JobStatus.SUCCEEDED.value,
        queue="default",
        created_by_id=user_id,
        dataset_id=run.dataset_id,
        model_id=run.model_id,
        mapping_version_id=run.mapping_version_id,
        mapping_hash=run.mapping_hash,
        message=f"{len(corrected)} image(s) corrected by hand, {len(matched) - len(corrected)} unchanged",
    )
    session.add(job)
    session.flush()
    version = _number(session, root_run, job.id)
    job.name = f"corrected labels v{version} of run {root_run}"
    job.params_json = json.dumps(
        {"kind": "label_import", "source_job_id": run.id, "run_job_id": root_run, "version": version}
    )
    out = settings.data_dir / "outputs" / f"job-{job.id}"
    provenance = {
        "kind": "label_import",
        "format": "cvat_segmentation_mask_1.1",
        "source_job_id": run.id,
        "run_job_id": root_run,
        "version": version,
        "archive_sha256": digest,
        "imported_by_user_id": user_id,
        "images": len(records),
        "masks_in_archive": len(matched),
        "corrected_by_hand": len(corrected),
        "corrected_images": sorted(corrected),
    }
    _write_version(run_dir, out, records, corrected, changes, provenance)
    job.output_dir = str(out)
    job.progress_current = job.progress_total = len(records)
    job.started_at = job.finished_at = job.created_at
    job.result_json = json.dumps({k: v for k, v in provenance.items() if k != "corrected_images"})
    session.flush()
    return job


def _labelmap(zf: zipfile.ZipFile) -> tuple[str, dict[fmt.RGB, str]]:
    """The folder holding ``labelmap.txt`` (``""`` at the top) and its colours."""
    found = sorted((n for n in zf.namelist() if PurePosixPath(n).name == "labelmap.txt"), key=len)
    if not found:
        raise InvalidInput(
            "the zip has no labelmap.txt: export the CVAT task as 'Segmentation mask 1.1'", field="file"
        )
    prefix = str(PurePosixPath(found[0]).parent)
    text = zf.read(found[0]).decode("utf-8", errors="replace")
    return ("" if prefix == "." else prefix + "/"), fmt.parse_labelmap(text)


def _masks(zf: zipfile.ZipFile, prefix: str) -> dict[str, str]:
    """CVAT item name -> zip member of every ``SegmentationClass/*.png``."""
    base = prefix + "SegmentationClass/"
    masks = {
        n[len(base) : -len(".png")]: n
        for n in zf.namelist()
        if n.startswith(base) and n.lower().endswith(".png") and not n.endswith("/")
    }
    if not masks:
        raise InvalidInput("the zip has no SegmentationClass/*.png masks", field="file")
    if len(masks) > MAX_MASKS:
        raise InvalidInput(f"the zip has {len(masks)} masks; at most {MAX_MASKS} at once", field="file")
    return masks


def _records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    ok = [r for r in records if r.get("status", "ok") == "ok"]
    return [r for r in ok if (run_dir / "labels" / str(r["output"])).is_file()]


def _match(masks: dict[str, str], records: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(zip member, run record) per mask: by item name, else by a stem only one image has."""
    by_item = {fmt.item_name(str(r["image"])): r for r in records}
    by_stem: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_stem.setdefault(PurePosixPath(str(r["image"])).stem, []).append(r)
        by_stem.setdefault(fmt.flat_name(str(r["image"])), []).append(r)
    matched, unknown = [], []
    for item, member in sorted(masks.items()):
        record = by_item.get(item)
        if record is None:
            candidates = by_stem.get(PurePosixPath(item).name, [])
            record = candidates[0] if len(candidates) == 1 else None
        if record is None:
            unknown.append(item)
        else:
            matched.append((member, record))
    if unknown:
        raise InvalidInput(
            f"{len(unknown)} mask(s) match no image of the run: {_first(unknown)}",
            field="file",
            details={"unmatched": unknown[:20]},
        )
    return matched


def _first(items: Iterable[str], n: int = 3) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def _read_rgb(zf: zipfile.ZipFile, member: str, image: str) -> np.ndarray:
    try:
        with zf.open(member) as fh, Image.open(fh) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, zipfile.BadZipFile) as exc:
        message = f"mask of {image!r} ({member}) is not a readable PNG: {exc}"
        raise InvalidInput(message, field="file") from None


def _number(session: Session, run_id: int, job_id: int) -> int:
    """The version number of the new label set: claimed compare-and-set, retried on a conflict."""
    for _ in range(NUMBER_TRIES):
        number = label_import_repo.claim_number(session, run_id, job_id)
        if number is not None:
            return number
    raise Conflict(
        f"run {run_id}: {NUMBER_TRIES} imports took the next version number first; import again",
        field="job_id",
    )


def _write_version(
    run_dir: Path,
    out: Path,
    records: list[dict[str, Any]],
    corrected: dict[str, np.ndarray],
    changes: dict[str, int],
    provenance: dict[str, Any],
) -> None:
    """The version's folder, built in a temporary folder beside it and renamed into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        manifest = []
        for record in records:
            image, rel = str(record["image"]), str(record["output"])
            target = tmp / "labels" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if image in corrected:
                Image.fromarray(corrected[image]).save(target, format="PNG")
            else:
                shutil.copyfile(run_dir / "labels" / rel, target)
            manifest.append(
                record
                | {
                    "corrected_by_hand": image in corrected,
                    "corrected_pixels_by_hand": changes.get(image, 0),
                    "in_import": image in changes,
                }
            )
        shutil.copyfile(run_dir / "pairs.jsonl", tmp / "pairs.jsonl")
        (tmp / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in manifest), encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(provenance, indent=1), encoding="utf-8")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
