"""Pickle trust of paper ``.pth`` models: an admin's recorded decision; jobs load converted weights only.

Through the HTTP API (registration, trust, job submission) and the Celery task functions called
directly in this process (conversion, evaluate, pseudo-label plan/shard/finalize), on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models_registry import Job, Model
from app.schemas.jobs import EvaluateParams
from worker.demo import TARGET

Headers = dict[str, str]


class _Marker:
    """Unpickling this creates ``path``: the payload of a malicious checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def _paper_pth(path: Path, *, seed: int = 0, extra: dict[str, Any] | None = None) -> Path:
    from worker.ml.modeling import build_mask2former, tiny_config

    torch.manual_seed(seed)
    model = build_mask2former(tiny_config(dict(enumerate(TARGET.names))))
    torch.save({"model_config": model.config, "model_state_dict": model.state_dict(), **(extra or {})}, path)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def in_process(
    monkeypatch: pytest.MonkeyPatch, session_factory: sessionmaker[Session], settings: Settings
) -> Any:
    """The worker's task functions, run here on the test database and data folder."""
    from worker import context, tasks

    monkeypatch.setattr(context, "_factory", session_factory)
    monkeypatch.setattr(tasks, "get_settings", lambda: settings)
    return tasks


def _register(client: TestClient, headers: Headers, world: dict[str, Any], path: Path, **extra: Any) -> Any:
    body = {
        "name": path.stem,
        "source": "paper_pth",
        "spec": str(path),
        "taxonomy_id": world["target"]["id"],
        **extra,
    }
    return client.post("/api/v1/models", json=body, headers=headers)


def _evaluate_body(world: dict[str, Any], model_id: int) -> dict[str, Any]:
    return {
        "params": {
            "kind": "evaluate",
            "model_id": model_id,
            "dataset_id": world["dataset"]["id"],
            "mapping_version_id": world["mapping"]["current_version"]["id"],
            "allow_unapproved": True,
            "override_reason": "test",
            "device": "cpu",
        }
    }


def _model_count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(Model)) or 0


def _job(factory: sessionmaker[Session], job_id: int) -> Job:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def test_an_editor_asking_for_trust_gets_403_before_validation_and_nothing_is_stored(
    client: TestClient, editor: Headers, world: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    before = _model_count(session_factory)
    # Even a body that would fail validation (path outside the roots, unknown taxonomy) gets 403.
    for value in (True, "true", 1):
        body = {
            "name": "x",
            "source": "paper_pth",
            "spec": "/etc/passwd",
            "taxonomy_id": 999,
            "trust_pickle": value,
        }
        r = client.post("/api/v1/models", json=body, headers=editor)
        assert r.status_code == 403, r.text
        assert "admin" in r.json()["error"]["message"]
    good = _paper_pth(world["teacher"].parent / "paper.pth")
    r = _register(client, editor, world, good, trust_pickle=True)
    assert r.status_code == 403
    assert _model_count(session_factory) == before


def test_an_admin_trust_is_recorded_and_queues_one_conversion(
    client: TestClient,
    editor: Headers,
    admin: Headers,
    world: dict[str, Any],
    sent: list[Any],
) -> None:
    path = _paper_pth(world["teacher"].parent / "paper.pth")
    registered = _register(client, editor, world, path)
    assert registered.status_code == 201, registered.text
    model = registered.json()
    assert model["trust_status"] == "untrusted" and model["trust_pickle"] is False
    assert model["trusted_sha256"] is None and model["trusted_by_id"] is None

    refused = client.post(f"/api/v1/models/{model['id']}/trust", json={"note": "mine"}, headers=editor)
    assert refused.status_code == 403
    assert client.get(f"/api/v1/models/{model['id']}", headers=editor).json()["trust_status"] == "untrusted"
    assert not [name for name, _ in sent if name == "unilabel.convert_model"]

    r = client.post(f"/api/v1/models/{model['id']}/trust", json={"note": "trained it myself"}, headers=admin)
    assert r.status_code == 200, r.text
    read = client.get(f"/api/v1/models/{model['id']}", headers=editor).json()
    assert read["trust_status"] == "converting" and read["trust_pickle"] is True
    assert read["trusted_sha256"] == _sha256(path)
    assert read["trusted_by"].startswith("admin") and read["trusted_by_id"] is not None
    assert read["trusted_at"] is not None and read["trust_note"] == "trained it myself"
    assert ("unilabel.convert_model", {"model_id": model["id"]}) in sent

    folder = client.post(f"/api/v1/models/{world['model']['id']}/trust", headers=admin)
    assert folder.status_code == 422 and "only pickles need trust" in folder.json()["error"]["message"]
    other = _register(
        client, admin, world, _paper_pth(path.parent / "at-registration.pth", seed=1), trust_pickle=True
    )
    assert other.status_code == 201, other.text
    assert other.json()["trust_status"] == "converting" and other.json()["trusted_sha256"]


def test_a_trusted_pth_is_converted_once_and_jobs_load_only_the_safetensors(
    client: TestClient,
    editor: Headers,
    admin: Headers,
    world: dict[str, Any],
    sent: list[Any],
    in_process: Any,
    settings: Settings,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _paper_pth(world["teacher"].parent / "paper.pth")
    model_id = _register(client, editor, world, path).json()["id"]
    assert client.post(f"/api/v1/models/{model_id}/trust", headers=admin).status_code == 200
    pending = client.post("/api/v1/jobs", json=_evaluate_body(world, model_id), headers=editor)
    assert pending.status_code == 409 and "being converted" in pending.json()["error"]["message"]

    assert in_process.convert_model(model_id) == "done"
    assert in_process.convert_model(model_id) == "skipped"  # a duplicate message converts nothing
    read = client.get(f"/api/v1/models/{model_id}", headers=editor).json()
    converted = Path(read["converted_path"])
    assert read["trust_status"] == "ready"
    assert converted == settings.data_dir / "models" / str(model_id) / "converted"
    assert {"model.safetensors", "config.json", "unilabel.json"} <= {p.name for p in converted.iterdir()}

    def no_pickles(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a job unpickled a checkpoint")

    monkeypatch.setattr(torch, "load", no_pickles)
    job = client.post("/api/v1/jobs", json=_evaluate_body(world, model_id), headers=editor)
    assert job.status_code == 201, job.text
    in_process.evaluate(job.json()["id"])
    done = _job(session_factory, job.json()["id"])
    assert done.status == "succeeded", (done.error, done.traceback)
    assert '"miou"' in str(done.result_json)


def test_a_malicious_pth_registered_by_an_editor_never_runs(
    client: TestClient,
    editor: Headers,
    world: dict[str, Any],
    sent: list[Any],
    in_process: Any,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    path = _paper_pth(world["teacher"].parent / "evil.pth", extra={"hook": _Marker(marker)})
    registered = _register(client, editor, world, path)
    assert registered.status_code == 201, registered.text
    model_id = registered.json()["id"]
    assert registered.json()["provenance"]["classes_checked"] is False  # the web's reader stopped

    refused = client.post("/api/v1/jobs", json=_evaluate_body(world, model_id), headers=editor)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "model_id"
    assert "untrusted pickle" in refused.json()["error"]["message"]
    body = _evaluate_body(world, model_id)["params"] | {"kind": "pseudo_label", "output_name": "evil"}
    assert client.post("/api/v1/jobs", json={"params": body}, headers=editor).status_code == 422
    train = {
        "kind": "train",
        "train_sets": [
            {"dataset_id": world["dataset"]["id"], "mapping_version_id": body["mapping_version_id"]}
        ],
        "start_model_id": model_id,
        "allow_unapproved": True,
        "override_reason": "test",
    }
    refused_train = client.post("/api/v1/jobs", json={"params": train}, headers=editor)
    assert refused_train.status_code == 422, refused_train.text
    assert refused_train.json()["error"]["field"] == "start_model_id"

    # Jobs that reach a worker anyway (rows written directly) are refused there too.
    version = world["mapping"]["current_version"]
    pins = {
        "model_id": model_id,
        "dataset_id": world["dataset"]["id"],
        "mapping_version_id": version["id"],
        "mapping_hash": version["content_hash"],
    }
    params = EvaluateParams(
        model_id=model_id, dataset_id=pins["dataset_id"], mapping_version_id=version["id"]
    )
    with session_factory() as s:
        evaluate = Job(kind="evaluate", params_json=params.model_dump_json(), **pins)
        label = Job(
            kind="pseudo_label",
            params_json=params.model_dump_json(),
            output_dir=str(tmp_path / "out"),
            **pins,
        )
        s.add_all([evaluate, label])
        s.commit()
        evaluate_id, label_id = evaluate.id, label.id
    in_process.evaluate(evaluate_id)
    failed = _job(session_factory, evaluate_id)
    assert failed.status == "failed" and "untrusted pickle" in str(failed.error)
    in_process.pseudo_label(label_id)  # plans the shards (no model needed yet)
    with session_factory() as s:
        shards = list(s.scalars(select(Job.id).where(Job.parent_id == label_id)))
    assert shards
    for shard in shards:
        in_process.pseudo_label_shard(shard)
        assert "untrusted pickle" in str(_job(session_factory, shard).error)
    in_process.finalize_pseudo_label(label_id)
    assert _job(session_factory, label_id).status == "failed"
    assert in_process.convert_model(model_id) == "skipped"  # never trusted: never unpickled
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: unpickling it does run it
    assert marker.exists()


def test_a_changed_file_loses_its_trust_at_load_and_at_submission(
    client: TestClient,
    editor: Headers,
    admin: Headers,
    world: dict[str, Any],
    sent: list[Any],
    in_process: Any,
    session_factory: sessionmaker[Session],
) -> None:
    path = _paper_pth(world["teacher"].parent / "paper.pth")
    model_id = _register(client, editor, world, path).json()["id"]
    assert client.post(f"/api/v1/models/{model_id}/trust", headers=admin).status_code == 200
    assert in_process.convert_model(model_id) == "done"
    job = client.post("/api/v1/jobs", json=_evaluate_body(world, model_id), headers=editor)
    assert job.status_code == 201, job.text

    _paper_pth(path, seed=7)  # the file is replaced after the admin's decision
    in_process.evaluate(job.json()["id"])
    failed = _job(session_factory, job.json()["id"])
    assert failed.status == "failed"
    assert "changed since an admin trusted it" in str(failed.error) and "trust it again" in str(failed.error)
    read = client.get(f"/api/v1/models/{model_id}", headers=editor).json()
    assert read["trust_status"] == "revoked" and read["trusted_sha256"] is None
    assert read["converted_path"] is None and "trust it again" in read["conversion_error"]

    refused = client.post("/api/v1/jobs", json=_evaluate_body(world, model_id), headers=editor)
    assert refused.status_code == 422 and "an admin must trust it" in refused.json()["error"]["message"]

    # Trusted again, then changed before any job: the submission itself finds it and revokes.
    assert client.post(f"/api/v1/models/{model_id}/trust", headers=admin).status_code == 200
    assert in_process.convert_model(model_id) == "done"
    with path.open("ab") as fh:
        fh.write(b"\0")
    changed = client.post("/api/v1/jobs", json=_evaluate_body(world, model_id), headers=editor)
    assert changed.status_code == 422
    assert "changed since an admin trusted it" in changed.json()["error"]["message"]
    assert client.get(f"/api/v1/models/{model_id}", headers=editor).json()["trust_status"] == "revoked"

    # Changed between the trust and its conversion: the worker refuses to unpickle it.
    assert client.post(f"/api/v1/models/{model_id}/trust", headers=admin).status_code == 200
    _paper_pth(path, seed=8)
    assert in_process.convert_model(model_id) == "revoked"
    assert client.get(f"/api/v1/models/{model_id}", headers=editor).json()["trust_status"] == "revoked"


def test_a_folder_with_only_pickle_weights_is_refused_at_registration(
    client: TestClient, editor: Headers, world: dict[str, Any]
) -> None:
    import shutil

    folder = world["teacher"].parent / "bin-only"
    shutil.copytree(world["teacher"], folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    (folder / "pytorch_model.bin").write_bytes(b"a pickle")
    body = {"name": "bin", "source": "folder", "spec": str(folder), "taxonomy_id": world["target"]["id"]}
    r = client.post("/api/v1/models", json=body, headers=editor)
    assert r.status_code == 422 and r.json()["error"]["field"] == "spec"
    assert "only pickle weights" in r.json()["error"]["message"]
