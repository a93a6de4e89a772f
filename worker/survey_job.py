"""Survey jobs (task adapter layer): plan a stratified sample, survey it in shards, merge.

A ``survey`` job reuses the pseudo-label machinery (``worker.tasks``): the same plan -> shards ->
finalize tasks, shard rows and outbox messages (:func:`worker.sharding.add_shards`), leases and
retries; the bodies here are chosen by the job's kind.

* :func:`plan_survey` reads the ground-truth histograms of the pool (the split's pairs, at most
  ``pool_size``, a seeded random subset when more), picks ``sample_size`` images with
  :func:`app.domain.survey.stratified_sample`, writes them to ``pairs.jsonl`` (pick order) and the
  sample's description to ``sample.json``, and plans the shards.
* :func:`run_survey_shard` appends one record per image to ``survey.<shard>.jsonl``; a resumed
  shard skips the images already recorded "ok" (a torn last line is ignored and redone).
* :func:`finalize_survey` merges the records into ``survey.json`` (the statistics with their
  provenance: teacher, dataset, sample, code version) and ends the parent job.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories_registry as repo
from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.domain.errors import DomainError, InvalidInput
from app.domain.label_codec import LabelEncoding
from app.domain.mapping import OntologyMapping
from app.domain.priors import compile_priors
from app.domain.survey import SurveyStats, stratified_sample
from app.services import datasets as dataset_service
from app.services import taxonomies as taxonomy_service
from app.services.jobs import log
from worker import context
from worker.context import resolve_device
from worker.progress import JobProgressRecorder, LeaseLost
from worker.runtime import JobInputs, load_registered_model, load_teacher
from worker.sharding import add_shards, finish_parent, read_pairs, shard_bounds, shard_tag, write_pairs

# the survey's algorithm (sampling, counting); recorded with every result. 2: also the arg-max over
# the real classes per label ("classes"); a version-1 result has none and falls back to "pixels".
SURVEY_VERSION = 2
SURVEY_FILE = "survey.json"
SAMPLE_FILE = "sample.json"


def survey_inputs(
    session: Session, job: Job, params: dict[str, Any], *, with_model: bool = True
) -> JobInputs:
    """The dataset, its taxonomy, the model and its class list (no priors: an empty mapping)."""
    if job.dataset_id is None or (with_model and job.model_id is None):
        raise InvalidInput("the survey's dataset or model was deleted", field="job_id")
    dataset = dataset_service.get_dataset(session, job.dataset_id)
    source = taxonomy_service.load_taxonomy(session, dataset.taxonomy_id)
    model = load_registered_model(session, int(job.model_id or 0)) if with_model else None
    target = taxonomy_service.load_taxonomy(session, model.taxonomy_id) if model else source
    return JobInputs(
        params=params,
        root=Path(dataset.root),
        encoding=LabelEncoding(dataset.label_encoding),
        source=source,
        target=target,
        priors=compile_priors(OntologyMapping(), source, target),
        mapping_hash="",
        model_spec=model.spec if model else "",
        model_source=model.source if model else "",
        normalization=model.normalization if model else None,
        device=resolve_device(str(params.get("device", "auto"))),
        palette=dataset_service.label_palette(dataset, source),
        labels_root=dataset_service.label_root(dataset),
    )


def _histograms(inputs: JobInputs, pairs: list[Any]) -> list[dict[str, int]]:
    import numpy as np

    from worker.ml.io import read_label

    names = {lb.value: lb.name for lb in inputs.source.labels if lb.value >= 0}
    out: list[dict[str, int]] = []
    for pair in pairs:
        try:
            values = read_label(
                (inputs.labels_root or inputs.root) / pair.label,
                pair.label,
                inputs.encoding,
                inputs.source.colors,
                inputs.palette,
            ).values
        except Exception:
            out.append({})  # unreadable: picked last; the shard records the error
            continue
        found, counts = np.unique(values, return_counts=True)
        out.append({names[int(v)]: int(c) for v, c in zip(found, counts, strict=True) if int(v) in names})
    return out


def plan_survey(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    params = json.loads(job.params_json)
    out_dir = Path(str(job.output_dir))
    seed, size = int(params.get("seed", 0)), int(params.get("sample_size", 200))
    with unit_of_work(context.session_factory()) as s:
        inputs = survey_inputs(s, job, params, with_model=False)
        dataset = dataset_service.get_dataset(s, int(job.dataset_id or 0))
        pairs = [p for p in dataset_service.pair_dataset(dataset, split=params.get("split")).pairs if p.label]
    pool = list(pairs)
    if len(pool) > int(params.get("pool_size", 5000)):
        pool = sorted(random.Random(seed).sample(pool, int(params["pool_size"])), key=lambda p: p.image)
    hists = _histograms(inputs, pool)
    picked = [pool[i] for i in stratified_sample(hists, size, seed=seed)]
    covered = {n for i in range(len(pool)) for n in hists[i]}
    sampled = {n for p in picked for n in hists[pool.index(p)]}
    sample = {
        "split": params.get("split"),
        "sample_size": size,
        "seed": seed,
        "pairs": len(pairs),
        "pool": len(pool),
        "images": len(picked),
        "labels_in_pool": len(covered),
        "labels_in_sample": len(sampled),
        "method": "greedy: the image whose labels have the fewest sampled pixels first (seeded ties)",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_pairs(out_dir, picked)
    (out_dir / SAMPLE_FILE).write_text(json.dumps(sample, indent=2), encoding="utf-8")
    bounds = shard_bounds(len(picked), int(params.get("shard_size", 50)))
    with unit_of_work(context.session_factory()) as s:
        job_row = repo.get_job(s, job.id)
        assert job_row is not None
        add_shards(s, job_row, bounds)
        if not repo.finish_job(
            s,
            job.id,
            recorder.attempt,
            shard_count=len(bounds),
            progress_total=len(picked),
            message=f"sample of {len(picked)} images ({len(sampled)} of {len(covered)} labels) "
            f"in {len(bounds)} shard(s)",
        ):
            raise LeaseLost(f"job {job.id}: the planning lease was lost")
        log(
            s,
            job.id,
            f"sampled {len(picked)} of {len(pool)} images; labels seen {len(sampled)}/{len(covered)}",
        )
    if not bounds:
        return {"images": 0, "note": "the dataset has no labelled pairs to survey", "sample": sample}
    return {"_planned": True}


def _records(path: Path) -> dict[str, dict[str, Any]]:
    """Last record per image ("ok" beats an error); torn lines are skipped."""
    best: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return best
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        image = rec.get("image")
        if image is None or (best.get(image, {}).get("status") == "ok" and rec.get("status") != "ok"):
            continue
        best[image] = rec
    return best


def run_survey_shard(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    from worker.ml.config import DataConfig
    from worker.ml.survey import survey_images

    with unit_of_work(context.session_factory()) as s:
        parent = repo.get_job(s, int(job.parent_id or 0))
        if parent is None:
            raise DomainError(f"shard {job.id} lost its parent job")
        inputs = survey_inputs(s, parent, json.loads(parent.params_json))
    bounds = json.loads(job.params_json)
    out_dir = Path(str(job.output_dir))
    path = out_dir / f"survey.{shard_tag(int(job.shard_index or 0))}.jsonl"
    done = {i for i, r in _records(path).items() if r.get("status") == "ok"}
    pairs = [p for p in read_pairs(out_dir, int(bounds["start"]), int(bounds["end"])) if p.image not in done]
    teacher = load_teacher(inputs)
    with path.open("a", encoding="utf-8") as sink:
        if sink.tell() and not path.read_text(encoding="utf-8").endswith("\n"):
            sink.write("\n")  # end a torn line of a killed writer

        def write(record: dict[str, Any]) -> None:
            sink.write(json.dumps(record) + "\n")
            sink.flush()

        run = survey_images(
            teacher,
            pairs,
            DataConfig(
                root=inputs.root,
                label_encoding=inputs.encoding,
                label_palette=inputs.palette,
                labels_root=inputs.labels_root,
            ),
            source=inputs.source,
            device=inputs.device,
            on_image=write,
            on_progress=recorder,
            should_stop=recorder.should_stop,
        )
    return {
        "surveyed": run.surveyed,
        "resumed_past": len(done),
        "failed": run.failed,
        "seconds": round(run.seconds, 3),
        "_stopped": run.stopped,
    }


def finalize_survey(job_id: int) -> bool:
    """Merge a survey's shards into ``survey.json`` and end the job; False when not a survey."""
    from app.services import models as model_service
    from worker.ml.provenance import package_version

    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.kind != "survey":
            return False
        if job.status in ("succeeded", "failed", "cancelled"):
            return True
        params = json.loads(job.params_json)
        shards = repo.list_shards(s, job_id)
        inputs = survey_inputs(s, job, params)
        model = model_service.get_model(s, int(job.model_id or 0))
        dataset = dataset_service.get_dataset(s, int(job.dataset_id or 0))
        out_dir = Path(str(job.output_dir))
        records: dict[str, dict[str, Any]] = {}
        for sh in shards:
            records |= _records(out_dir / f"survey.{shard_tag(int(sh.shard_index or 0))}.jsonl")
        stats = SurveyStats(tuple(inputs.target.names))
        errors = []
        for pair in read_pairs(out_dir):
            rec = records.get(pair.image)
            if rec is None or rec.get("status") != "ok":
                errors.append({"image": pair.image, "error": (rec or {}).get("error", "missing")})
                continue
            for name, row in rec["labels"].items():
                stats.add(name, row["pixels"], row["mass"], classes=row.get("classes"))
            stats.images += 1
        sample = json.loads((out_dir / SAMPLE_FILE).read_text(encoding="utf-8"))
        provenance = {
            "teacher": {
                "model_id": model.id,
                "name": model.name,
                "spec": inputs.model_spec,
                "checksum": model.checksum,
                "taxonomy_id": model.taxonomy_id,
            },
            "dataset": {"dataset_id": dataset.id, "name": dataset.name, "taxonomy_id": dataset.taxonomy_id},
            "sample": sample,
            "code": {"unilabel": package_version(), "survey_version": SURVEY_VERSION},
            "views": ["original (no TTA)"],
        }
        result = {"survey": stats.to_json(), "provenance": provenance, "errors": errors[:1000]}
        (out_dir / SURVEY_FILE).write_text(json.dumps(result), encoding="utf-8")
        summary = {
            "images": len(read_pairs(out_dir)),
            "images_ok": stats.images,
            "images_failed": len(errors),
            "labels": len(stats.labels),
            "survey_file": SURVEY_FILE,
            "provenance": provenance,
        }
        message = f"surveyed {stats.images} images, {len(stats.labels)} source labels"
        finish_parent(s, job, shards, result=summary, message=message)
    return True
