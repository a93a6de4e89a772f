"""The steps behind the job tasks (task adapter layer): plan shards, run a shard, finalize, evaluate, scan.

Each ``run_*``/``plan_*`` function is a *body* for ``worker.tasks._run_leased``: it gets the claimed
job row and its :class:`JobProgressRecorder`, calls ``worker.ml``, and returns the result summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.db import repositories_registry as repo
from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.domain.errors import DomainError
from app.services import datasets as dataset_service
from app.services.jobs import log
from worker import context, job_summary
from worker.progress import JobProgressRecorder, LeaseLost
from worker.pseudo_label_update import CARRIED_TAG, RELABEL_FILE, is_update, prepare_update, update_fields
from worker.runtime import JobInputs, load_inputs, load_teacher, source_names
from worker.sharding import (
    PAIRS_FILE,
    add_shards,
    finish_parent,
    merge_outputs,
    read_pairs,
    remove_temp_files,
    shard_bounds,
    shard_tag,
    write_pairs,
)


def plan_shards(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    params = json.loads(job.params_json)
    out_dir = Path(str(job.output_dir))
    with unit_of_work(context.session_factory()) as s:
        dataset = dataset_service.get_dataset(s, int(job.dataset_id or 0))
        pairing = dataset_service.pair_dataset(dataset, split=params.get("split"))
        pairs = list(pairing.pairs)
        if params.get("max_images"):
            pairs = pairs[: int(params["max_images"])]
        skipped = job_summary.skipped_images(
            Path(dataset.root),
            pairing,
            image_pattern=None if dataset.list_file else dataset.image_pattern,
            split=params.get("split"),
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        write_pairs(out_dir, pairs)
        job_summary.write_skipped(out_dir, skipped)
        # An update run's shards label only the images the new mapping version touches.
        todo = prepare_update(s, job, out_dir, pairs) if is_update(params) else pairs
        bounds = shard_bounds(len(todo), int(params.get("shard_size", 50)))
        add_shards(s, job, bounds)  # the shard rows and their task messages, in this commit
        # shard_count > 0 hands the lease over to the shards (the parent is no longer swept). If our
        # lease lapsed and another worker re-planned, roll back: its shards are the job's.
        if not repo.finish_job(
            s,
            job.id,
            recorder.attempt,
            shard_count=max(1, len(bounds)) if bounds else 0,
            progress_total=len(todo),
            message=f"{len(todo)} images in {len(bounds)} shard(s)",
        ):
            raise LeaseLost(f"job {job.id}: the planning lease was lost")
        log(
            s,
            job.id,
            f"planned {len(todo)} images in {len(bounds)} shard(s) of <= {params.get('shard_size', 50)}",
        )
        if skipped:
            log(s, job.id, _skipped_line(skipped), level="warning")
    return _nothing_to_label(job, params, out_dir, skipped) if not bounds else {"_planned": True}


def _nothing_to_label(
    job: Job, params: dict[str, Any], out_dir: Path, skipped: list[dict[str, Any]]
) -> dict[str, Any]:
    """The result of a job planned without shards: an update that carried every image over, or a
    dataset without pairs."""
    if is_update(params):
        with unit_of_work(context.session_factory()) as s:
            inputs = load_inputs(s, params, job, with_model=False)
        return job_summary.job_result(_merge(job, inputs, out_dir, [], skipped))
    empty = {"images": 0, "images_ok": 0, "images_failed": 0, "images_missing": 0}
    summary = job_summary.complete_summary(
        out_dir, empty | {"note": "the dataset has no pairs to label"}, ranges=[], skipped=skipped
    )
    return job_summary.job_result(summary)


def _skipped_line(skipped: list[dict[str, Any]]) -> str:
    missing = sum(1 for s in skipped if s["reason"] == job_summary.LABEL_MISSING)
    first = ", ".join(s["image"] for s in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
    return f"skipped {len(skipped)} image(s) the pairing left out ({missing} label missing): {first}"


def _parent_inputs(job: Job) -> tuple[JobInputs, dict[str, Any]]:
    with unit_of_work(context.session_factory()) as s:
        parent = repo.get_job(s, int(job.parent_id or 0))
        if parent is None:
            raise DomainError(f"shard {job.id} lost its parent job")
        params = json.loads(parent.params_json)
        inputs = load_inputs(s, params, job)
    return inputs, json.loads(job.params_json)


def run_shard(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    from worker.ml.config import DataConfig, PseudoLabelConfig
    from worker.ml.pseudo_label import run_pseudo_labeling
    from worker.runtime import inference_config
    from worker.sharding import repair_shard

    inputs, bounds = _parent_inputs(job)
    teacher = load_teacher(inputs)
    out_dir = Path(str(job.output_dir))
    pairs_file = RELABEL_FILE if is_update(inputs.params) else PAIRS_FILE
    pairs = read_pairs(out_dir, int(bounds["start"]), int(bounds["end"]), name=pairs_file)
    tag = shard_tag(int(job.shard_index or 0))
    use_priors = bool(inputs.params.get("use_priors", True))
    repaired = repair_shard(out_dir, pairs, tag, use_labels=use_priors)
    if repaired:
        with unit_of_work(context.session_factory()) as s:
            log(s, job.id, f"resume: redoing {repaired} output file(s) without a manifest record")
    config = PseudoLabelConfig(
        out_dir=out_dir,
        inference=inference_config(inputs),
        use_priors=use_priors,
        write_confidence=bool(inputs.params.get("write_confidence")),
        write_teacher=bool(inputs.params.get("write_teacher", True)),
        threshold=inputs.params.get("threshold"),
        shard=tag,
    )
    summary = run_pseudo_labeling(
        config,
        teacher,
        pairs,
        DataConfig(
            root=inputs.root,
            label_encoding=inputs.encoding,
            label_palette=inputs.palette,
            labels_root=inputs.labels_root,
        ),
        priors=inputs.priors,
        source=inputs.source,
        mapping_hash=inputs.mapping_hash,
        on_progress=recorder,
        should_stop=recorder.should_stop,
    )
    data = summary.to_json()
    result = {
        k: data[k]
        for k in (
            "total",
            "written",
            "skipped_existing",
            "failed",
            "void_fraction",
            "correction_rate",
            "seconds",
            "views",
        )
    }
    result["_stopped"] = summary.stopped
    return result


def finalize(job_id: int) -> None:
    """Merge the shards' manifests and summaries; end the parent job (idempotent)."""
    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.status in ("succeeded", "failed", "cancelled"):
            return
        shards = repo.list_shards(s, job_id)
        inputs = load_inputs(s, json.loads(job.params_json), job, with_model=False)  # merging only
        out_dir = Path(str(job.output_dir))
        remove_temp_files(out_dir)
        summary = _merge(job, inputs, out_dir, shards, job_summary.read_skipped(out_dir))
        finish_parent(
            s, job, shards, result=job_summary.job_result(summary), message=job_summary.job_message(summary)
        )


def _merge(
    job: Job, inputs: JobInputs, out_dir: Path, shards: list[Job], skipped: list[dict[str, Any]]
) -> dict[str, Any]:
    """Merge the shards' outputs (and an update's carried-over images); write ``summary.json``."""
    update = is_update(inputs.params)
    tags = [shard_tag(int(sh.shard_index or 0)) for sh in shards] + ([CARRIED_TAG] if update else [])
    summary = merge_outputs(
        out_dir,
        shard_tags=tags,
        source_names=source_names(inputs.source),
        unknown_row=inputs.priors.unknown_row,
        job_id=job.id,
    )
    if update:  # shard ranges index the re-labelled pairs, not the run's: failures name no shard
        summary |= update_fields(out_dir, inputs.params)
    ranges = [] if update else _shard_ranges(shards)
    return job_summary.complete_summary(out_dir, summary, ranges=ranges, skipped=skipped)


def _shard_ranges(shards: list[Job]) -> list[job_summary.ShardRange]:
    """(start, end, shard index) of each shard's slice of the job's pairs."""
    ranges = []
    for shard in shards:
        bounds = json.loads(shard.params_json)
        ranges.append((int(bounds["start"]), int(bounds["end"]), int(shard.shard_index or 0)))
    return ranges


def run_evaluation(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    from worker.ml.config import DataConfig, EvaluateConfig
    from worker.ml.evaluate import evaluate_dataset
    from worker.runtime import inference_config

    with unit_of_work(context.session_factory()) as s:
        params = json.loads(job.params_json)
        inputs = load_inputs(s, params, job)
        dataset = dataset_service.get_dataset(s, int(job.dataset_id or 0))
        pairs = list(dataset_service.pair_dataset(dataset, split=params.get("split")).pairs)
    if params.get("max_images"):
        pairs = pairs[: int(params["max_images"])]
    teacher = load_teacher(inputs)
    result = evaluate_dataset(
        EvaluateConfig(inference=inference_config(inputs)),
        teacher,
        pairs,
        DataConfig(
            root=inputs.root,
            label_encoding=inputs.encoding,
            label_palette=inputs.palette,
            labels_root=inputs.labels_root,
        ),
        priors=inputs.priors,
        source=inputs.source,
        mapping_hash=inputs.mapping_hash,
        on_progress=recorder,
        should_stop=recorder.should_stop,
    )
    return result.to_json()


def run_scan(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    params = json.loads(job.params_json)
    with unit_of_work(context.session_factory()) as s:
        report = dataset_service.scan_dataset(s, int(job.dataset_id or 0), max_pairs=params.get("max_pairs"))
    from app.domain.jobs import Progress

    recorder(Progress(report.checked, report.checked, f"scanned {report.checked} pairs"))
    return report.model_dump()
