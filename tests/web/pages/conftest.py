"""Fixtures for the HTML page tests: browser-like clients logged in with a password and a CSRF token."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models import Mapping
from app.schemas.datasets import DatasetCreate
from app.schemas.models import ModelCreate
from app.services import datasets as dataset_service
from app.services import mapping_edits as mapping_edit_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import reviews as review_service
from app.services import taxonomies as taxonomy_service
from app.services import users as user_service
from tests import factories

PASSWORD = "correct horse battery"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def csrf_of(page_html: str) -> str:
    match = _CSRF_META.search(page_html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


def base_version_of(page_html: str) -> int:
    match = re.search(r'name="base_version" value="(\d+)"', page_html)
    assert match, "page has no base_version input"
    return int(match.group(1))


def unescape(text: str) -> str:
    return html.unescape(text)


@dataclass
class Browser:
    """A TestClient with a session cookie (logged in as ``name``) and its CSRF token."""

    client: TestClient
    name: str
    csrf: str

    def get(self, url: str, **kw: object) -> object:
        return self.client.get(url, **kw)  # type: ignore[arg-type]

    def post(self, url: str, data: dict[str, object] | None = None, *, htmx: bool = False, **kw: object):  # type: ignore[no-untyped-def]
        headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
        if htmx:
            headers["HX-Request"] = "true"
            headers["X-CSRF-Token"] = self.csrf
        else:
            data = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(url, data=data, headers=headers, follow_redirects=False, **kw)  # type: ignore[arg-type]


@pytest.fixture
def login(app: FastAPI, session_factory: sessionmaker[Session]) -> Iterator[Callable[..., Browser]]:
    """``login("editor")`` -> a Browser logged in through the real login form as a new user."""
    clients: list[TestClient] = []
    seq = iter(range(1, 1000))

    def make(role: str = "editor", name: str | None = None) -> Browser:
        name = name or f"{role}-{next(seq)}"
        with session_factory() as s:
            user_service.create_user(s, name=name, role=role, password=PASSWORD)
            s.commit()
        client = TestClient(app)
        clients.append(client)
        token = csrf_of(client.get("/login").text)
        r = client.post(
            "/login",
            data={"username": name, "password": PASSWORD, "csrf_token": token, "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/", r.text
        return Browser(client, name, csrf_of(client.get("/").text))

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def small_mapping(session_factory: sessionmaker[Session]) -> Mapping:
    """A committed mapping on the tiny factory taxonomies (road, sidewalk -> 0; building -> 1; sky -> 3)."""
    with session_factory() as s:
        mapping = factories.make_mapping(s, name="city → tiny")
        s.commit()
        return mapping


# --- registry and jobs (datasets, models, jobs pages) ------------------------------------------------


@dataclass
class Registry:
    """Demo taxonomies, an approved and a draft mapping version, a dataset and a (fake) model folder."""

    source_id: int
    target_id: int
    mapping_id: int
    approved_version_id: int
    draft_version_id: int
    dataset_id: int
    model_id: int
    root: Path


def fake_model_folder(folder: Path, class_names: tuple[str, ...]) -> Path:
    """A model folder with only the metadata registration reads (no weights: no torch needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    id2label = {str(i): n for i, n in enumerate(class_names)}
    (folder / "config.json").write_text(json.dumps({"id2label": id2label}), encoding="utf-8")
    (folder / "unilabel.json").write_text(json.dumps({"class_names": list(class_names)}), encoding="utf-8")
    return folder


@pytest.fixture
def registry(session_factory: sessionmaker[Session], settings: Settings) -> Registry:
    """Everything a job submission needs, committed (the synthetic demo dataset, 6 tiny images)."""
    from worker.demo import EDGES, IMAGE_PATTERN, LABEL_TEMPLATE, SOURCE, TARGET, make_dataset

    root = make_dataset(settings.data_dir / "streets", count=6, height=24, width=32)
    teacher = fake_model_folder(settings.data_dir / "teacher", TARGET.names)
    with session_factory() as s:
        admin, _ = user_service.ensure_local_admin(s)
        source = taxonomy_service.create_taxonomy(s, taxonomy=SOURCE)
        target = taxonomy_service.create_taxonomy(s, taxonomy=TARGET)
        mapping = mapping_service.create_mapping(
            s,
            name="demo map",
            source_taxonomy_id=source.id,
            target_taxonomy_id=target.id,
            edges=EDGES,
            author=admin,
        )
        v1 = mapping_service.current_version(s, mapping.id)
        review_service.submit_for_review(s, version_id=v1.id, author=admin)
        review_service.approve(s, version_id=v1.id, reviewer=admin, message="ok")
        v2 = mapping_edit_service.toggle_edge(
            s,
            mapping_id=mapping.id,
            base_version_id=v1.id,
            source_name="sky",
            target_id=2,
            author=admin,
            on=True,
        )
        dataset = dataset_service.register_dataset(
            s,
            body=DatasetCreate(
                name="streets",
                taxonomy_id=source.id,
                root=str(root),
                image_pattern=IMAGE_PATTERN,
                label_template=LABEL_TEMPLATE,
                splits=["train", "val"],
            ),
            settings=settings,
        )
        dataset_service.scan_dataset(s, dataset.id)
        model = model_service.register_model(
            s,
            body=ModelCreate(name="tiny", source="folder", spec=str(teacher), taxonomy_id=target.id),
            settings=settings,
        )
        s.commit()
        return Registry(source.id, target.id, mapping.id, v1.id, v2.id, dataset.id, model.id, root)
