"""Export job body (task adapter layer): a run's labels in a tool's layout, as ``export.zip``.

One task, not sharded: the archive is written with :mod:`zipfile` to ``export.zip.tmp`` in the
export job's folder, images streamed from disk and masks encoded one at a time, then renamed into
place (a killed export leaves no half archive under the final name; a retry starts over). The
layouts are in ``docs/exports.md`` and in the archive's ``README.md``.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session

from app.db import repositories_registry as repo
from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.domain import exports as fmt
from app.domain.errors import DomainError
from app.domain.jobs import Progress
from app.domain.label_codec import LabelEncoding, output_dtype, void_value
from app.domain.priors import compile_priors
from app.domain.taxonomy import Taxonomy
from app.services import datasets as dataset_service
from app.services import image_reviews as image_review_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from worker import context
from worker.ml.io import read_label
from worker.progress import JobProgressRecorder

ARCHIVE = "export.zip"


@dataclass
class Source:
    """What an export reads: the run's folder, the dataset root, the target classes, provenance.

    A ground-truth export (no run: ``job_id`` None, ``kind`` "ground_truth") reads each record's
    label file with ``read_ids`` (decoded, mapped by the mapping version's lookup table).
    """

    job_id: int | None
    kind: str
    out_dir: Path
    root: Path
    taxonomy: Taxonomy
    records: list[dict[str, Any]]  # manifest records with a label file, in order
    provenance: dict[str, Any]
    rejected: int = 0  # images rejected in the per-image review, left out of ``records``
    read_ids: Callable[[dict[str, Any]], np.ndarray] | None = None


def load_source(job_id: int) -> Source:
    with unit_of_work(context.session_factory()) as s:
        run = repo.get_job(s, job_id)
        if run is None or run.status != "succeeded" or not run.output_dir or run.dataset_id is None:
            raise DomainError(f"run {job_id} is gone or unfinished")
        dataset = dataset_service.get_dataset(s, run.dataset_id)
        model = model_service.get_model(s, int(run.model_id or 0))
        taxonomy = taxonomy_service.load_taxonomy(s, model.taxonomy_id)
        out_dir = Path(run.output_dir)
        provenance = {
            "run_job_id": run.id,
            "run_kind": run.kind,
            "dataset": {"id": dataset.id, "name": dataset.name, "root": dataset.root},
            "teacher_model": {"id": model.id, "name": model.name},
            "target_taxonomy": {"id": model.taxonomy_id, "name": taxonomy.name},
            "mapping_version_id": run.mapping_version_id,
            "mapping_hash": run.mapping_hash,
            "run_params": json.loads(run.params_json or "{}"),
        }
        kind, root = run.kind, Path(dataset.root)
        rejected, snapshot = _rejections(s, run)
        provenance["review"] = {"rejected_left_out": len(rejected), "review_snapshot_hash": snapshot}
    manifest = out_dir / "manifest.jsonl"
    lines = manifest.read_text(encoding="utf-8").splitlines() if manifest.is_file() else []
    records = [r for r in map(json.loads, filter(None, lines)) if r.get("status", "ok") == "ok"]
    records = [r for r in records if (out_dir / "labels" / str(r.get("output"))).is_file()]
    left_out = sum(1 for r in records if r.get("image") in rejected)
    records = [r for r in records if r.get("image") not in rejected]
    summary = out_dir / "summary.json"
    if summary.is_file():
        provenance["run_summary"] = {
            k: v for k, v in json.loads(summary.read_text(encoding="utf-8")).items() if k != "errors"
        }
    return Source(job_id, kind, out_dir, root, taxonomy, records, provenance, left_out)


def _rejections(session: Session, run: Job) -> tuple[frozenset[str], str | None]:
    """The run's images rejected in the per-image review now (a decision on a label that has changed
    since does not count) and the decisions' snapshot hash; only pseudo-label runs are reviewed."""
    if run.kind != "pseudo_label":
        return frozenset(), None
    return image_review_service.training_exclusions(session, run.id)


def load_ground_truth(job: Job) -> Source:
    """The ground truth of the export job's dataset by the target taxonomy of its mapping version
    (the version's lookup table; ambiguous, void and unknown values -> 255), pinned by hash."""
    with unit_of_work(context.session_factory()) as s:
        dataset = dataset_service.get_dataset(s, int(job.dataset_id or 0))
        version = mapping_service.get_version(s, int(job.mapping_version_id or 0))
        if version.content_hash != job.mapping_hash:
            raise DomainError(f"mapping version {version.id} changed since the export was submitted")
        mapping = mapping_service.get_mapping(s, version.mapping_id)
        source_tax = taxonomy_service.load_taxonomy(s, mapping.source_taxonomy_id, generated=False)
        target = taxonomy_service.load_taxonomy(s, mapping.target_taxonomy_id)
        priors = compile_priors(mapping_service.version_edges(version), source_tax, target)
        priors = priors.with_any_class(dataset_service.any_class_values(dataset))
        palette = dataset_service.label_palette(dataset, source_tax)
        encoding, labels_root = LabelEncoding(dataset.label_encoding), dataset_service.label_root(dataset)
        pairs = [p for p in dataset_service.pair_dataset(dataset).pairs if p.label]
        provenance: dict[str, Any] = {
            "ground_truth": True,
            "dataset": {"id": dataset.id, "name": dataset.name, "root": dataset.root},
            "source_taxonomy": {"id": mapping.source_taxonomy_id, "name": source_tax.name},
            "target_taxonomy": {"id": mapping.target_taxonomy_id, "name": target.name},
            "mapping": {"id": mapping.id, "name": mapping.name},
            "mapping_version": {"id": version.id, "number": version.number, "status": version.status},
            "mapping_hash": version.content_hash,
            "label_encoding": encoding.value,
        }
        root = Path(dataset.root)

    def read_ids(record: dict[str, Any]) -> np.ndarray:
        label = str(record["label"])
        decoded = read_label(labels_root / label, label, encoding, source_tax.colors, palette)
        return priors.hard_map(decoded.values)

    records = [{"image": p.image, "label": p.label, "split": p.split} for p in pairs]
    return Source(None, "ground_truth", root, root, target, records, provenance, read_ids=read_ids)


def run_export(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    params = json.loads(job.params_json)
    source = load_source(int(params["job_id"])) if params.get("job_id") else load_ground_truth(job)
    out_dir = Path(str(job.output_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"{ARCHIVE}.tmp"
    fmt_name = str(params["format"])
    total = len(source.records)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        writer = WRITERS[fmt_name]()  # a fresh writer: it keeps per-archive state
        for i, record in enumerate(source.records):
            writer.item(zf, source, record)
            recorder(Progress(i + 1, total, f"{i + 1}/{total} images"))
        extra = writer.finish(zf, source)
        zf.writestr("README.md", readme(fmt_name, job.id, source, extra))
    os.replace(tmp, out_dir / ARCHIVE)
    return {
        "format": fmt_name,
        "images": total,
        "rejected_left_out": source.rejected,
        "archive": ARCHIVE,
        "source_job_id": source.job_id,
        "dataset_id": job.dataset_id,
    }


# --- per-format writers ------------------------------------------------------------------------


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _ids(source: Source, record: dict[str, Any]) -> np.ndarray:
    if source.read_ids is not None:
        return source.read_ids(record)
    with Image.open(source.out_dir / "labels" / str(record["output"])) as im:
        return np.asarray(im)


def _classes(source: Source) -> list[fmt.ExportClass]:
    return fmt.export_classes(source.taxonomy)


def _void(source: Source) -> int:
    return void_value(len(source.taxonomy.labels))


class _Writer:
    def item(self, zf: zipfile.ZipFile, source: Source, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def finish(self, zf: zipfile.ZipFile, source: Source) -> str:
        """Write the index files; returns the README's layout section."""
        raise NotImplementedError


class _Cvat(_Writer):
    def __init__(self) -> None:
        self.names: list[str] = []

    def item(self, zf: zipfile.ZipFile, source: Source, record: dict[str, Any]) -> None:
        name = fmt.item_name(str(record["image"]))
        self.names.append(name)
        rgb = fmt.colorize(_ids(source, record), _classes(source), _void(source))
        zf.writestr(f"SegmentationClass/{name}.png", _png(rgb))

    def finish(self, zf: zipfile.ZipFile, source: Source) -> str:
        zf.writestr("labelmap.txt", fmt.cvat_labelmap(_classes(source)))
        zf.writestr("ImageSets/Segmentation/default.txt", "".join(n + "\n" for n in self.names))
        return CVAT_LAYOUT


class _Cityscapes(_Writer):
    def item(self, zf: zipfile.ZipFile, source: Source, record: dict[str, Any]) -> None:
        image, ids_path, color_path = fmt.cityscapes_paths(str(record["image"]), _split(source, record))
        ids = _ids(source, record)
        zf.write(source.root / str(record["image"]), image)
        zf.writestr(ids_path, _png(ids.astype(output_dtype(len(source.taxonomy.labels)))))
        zf.writestr(color_path, _png(fmt.colorize(ids, _classes(source), _void(source))))

    def finish(self, zf: zipfile.ZipFile, source: Source) -> str:
        zf.writestr("classes.json", json.dumps(_class_table(source), indent=1))
        return CITYSCAPES_LAYOUT


class _HfImagefolder(_Writer):
    def __init__(self) -> None:
        self.rows: dict[str, list[str]] = {}

    def item(self, zf: zipfile.ZipFile, source: Source, record: dict[str, Any]) -> None:
        image = str(record["image"])
        split = _split(source, record) or "train"
        stem = fmt.flat_name(image)
        suffix = Path(image).suffix or ".png"
        zf.write(source.root / image, f"{split}/images/{stem}{suffix}")
        zf.writestr(f"{split}/masks/{stem}.png", _png(_ids(source, record)))
        # file_name: the image, relative to the metadata file (imagefolder's rule); mask_path: the
        # mask, relative to the archive's root (cast to an Image column when loading, see HF_LAYOUT).
        row = {"file_name": f"images/{stem}{suffix}", "mask_path": f"{split}/masks/{stem}.png"}
        self.rows.setdefault(split, []).append(json.dumps(row | {"source_image": image}))

    def finish(self, zf: zipfile.ZipFile, source: Source) -> str:
        for split, rows in self.rows.items():
            zf.writestr(f"{split}/metadata.jsonl", "".join(r + "\n" for r in rows))
        zf.writestr("classes.json", json.dumps(_class_table(source), indent=1))
        return HF_LAYOUT


class _FiftyOne(_Writer):
    def item(self, zf: zipfile.ZipFile, source: Source, record: dict[str, Any]) -> None:
        image = str(record["image"])
        stem = fmt.flat_name(image)
        zf.write(source.root / image, f"data/{stem}{Path(image).suffix or '.png'}")
        zf.writestr(f"labels/{stem}.png", _png(_ids(source, record)))

    def finish(self, zf: zipfile.ZipFile, source: Source) -> str:
        targets = {str(c.value): c.name for c in _classes(source)}
        zf.writestr("mask_targets.json", json.dumps(targets, indent=1))
        return FIFTYONE_LAYOUT


WRITERS: dict[str, Callable[[], _Writer]] = {
    "cvat": _Cvat,
    "cityscapes": _Cityscapes,
    "hf_imagefolder": _HfImagefolder,
    "fiftyone": _FiftyOne,
}


def _split(source: Source, record: dict[str, Any]) -> str | None:
    split = record.get("split")
    return str(split) if split else None


def _class_table(source: Source) -> list[dict[str, Any]]:
    void = _void(source)
    rows = [{"id": c.value, "name": c.name, "color": list(c.rgb)} for c in _classes(source)]
    return rows + [{"id": void, "name": "void (ignore)", "color": [0, 0, 0]}]


CVAT_LAYOUT = """CVAT "Segmentation mask 1.1" (annotations only; create the task from the dataset's
images, named by their path relative to the dataset root, then upload this zip as annotations):

    labelmap.txt                       # label:color_rgb:parts:actions; background = void (0,0,0)
    ImageSets/Segmentation/default.txt # item names: image paths without extension
    SegmentationClass/<item>.png       # RGB colour masks, one colour per class (labelmap.txt)

After correcting, export the task as "Segmentation mask 1.1" and import the zip back with
`unilabel job import-cvat <run job id> <file.zip>` (or POST /api/v1/jobs/<id>/cvat-import)."""

CITYSCAPES_LAYOUT = """Cityscapes layout (city folder "unilabel"; stems are image paths with "/" -> "__"):

    leftImg8bit/<split>/unilabel/<stem>_leftImg8bit.<ext>
    gtFine/<split>/unilabel/<stem>_gtFine_labelIds.png   # class ids of the target taxonomy, void 255
    gtFine/<split>/unilabel/<stem>_gtFine_color.png      # colours of classes.json
    classes.json                                         # id, name, colour per class"""

HF_LAYOUT = """Hugging Face imagefolder (one folder per split, metadata.jsonl beside the images):

    <split>/images/<stem>.<ext>
    <split>/masks/<stem>.png        # class ids, void 255
    <split>/metadata.jsonl          # file_name (the image), mask_path (from the root), source_image
    classes.json

    import os
    from datasets import Image, load_dataset
    d = "<unzipped folder>"
    ds = load_dataset("imagefolder", data_dir=d)
    ds = ds.map(lambda r: {"mask": os.path.join(d, r["mask_path"])}).cast_column("mask", Image())"""

FIFTYONE_LAYOUT = """FiftyOne image segmentation directory:

    data/<stem>.<ext>
    labels/<stem>.png               # class ids, void 255
    mask_targets.json               # {"<id>": "<class name>"}

    import json, fiftyone as fo
    d = "<unzipped folder>"
    ds = fo.Dataset.from_dir(dataset_dir=d, dataset_type=fo.types.ImageSegmentationDirectory)
    ds.default_mask_targets = {int(k): v for k, v in json.load(open(f"{d}/mask_targets.json")).items()}"""


def readme(fmt_name: str, export_job_id: int, source: Source, layout: str) -> str:
    left_out = "\n\n"
    if source.kind == "pseudo_label":
        left_out = (
            f" Left out: {source.rejected} image(s) rejected in the per-image review (decisions on "
            "labels that changed since do not count).\n\n"
        )
    what = f"run job {source.job_id} ({source.kind})"
    if source.job_id is None:
        version = source.provenance["mapping_version"]
        what = (
            f"the ground truth of dataset {source.provenance['dataset']['name']!r}, mapped by version "
            f"{version['number']} of mapping {source.provenance['mapping']['name']!r} "
            "(its lookup table: labels with several or no target classes are void, 255)"
        )
    return (
        f"# unilabel export: {fmt_name}\n\n"
        f"Export job {export_job_id} of {what}: "
        f"{len(source.records)} image(s) labelled without error.{left_out}"
        f"## Layout\n\n{layout}\n\n"
        "## Classes\n\n"
        + "".join(f"- {row['id']}: {row['name']} {tuple(row['color'])}\n" for row in _class_table(source))
        + "\n## Provenance\n\n```json\n"
        + json.dumps(source.provenance, indent=1, sort_keys=True, default=str)
        + "\n```\n"
    )
