"""Review and edit races over HTTP, and the four-eyes setting (both databases).

Racing requests go through separate ``TestClient`` instances on one app, each in its own thread,
so they run concurrently against the real engine and commit in the request dependency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.web.main import create_app
from tests.web.api.conftest import MASTER_CSV, SOURCE_CSV

Json = dict[str, Any]
Headers = dict[str, str]
Request = tuple[str, str, Json]  # method, path, JSON body


def _race(app: FastAPI, requests: list[Request], headers: list[Headers]) -> list[Any]:
    """Send every request at once (one client and thread each); the responses in order."""
    barrier = threading.Barrier(len(requests))
    responses: list[Any] = [None] * len(requests)

    def send(i: int, method: str, path: str, body: Json) -> None:
        client = TestClient(app)
        try:
            barrier.wait(timeout=30)
            responses[i] = client.request(method, path, json=body, headers=headers[i])
        except Exception as exc:  # recorded for the assertions
            responses[i] = exc
        finally:
            client.close()

    threads = [threading.Thread(target=send, args=(i, *r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return responses


def _new_mapping(client: TestClient, headers: Headers, name: str = "city") -> Json:
    files = {"file": ("labels.csv", SOURCE_CSV.encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": name}, headers=headers)
    assert r.status_code == 201, r.text
    files = {"file": (f"master_labels_{name}-t.csv", MASTER_CSV.encode(), "text/csv")}
    data = {"source_taxonomy_id": str(r.json()["id"])}
    r = client.post("/api/v1/mappings/import", files=files, data=data, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json()["mapping"])


@pytest.mark.timeout(240)
def test_racing_edits_over_http_every_loser_gets_409_with_the_current_version(
    app: FastAPI, client: TestClient, editor: Headers, mapping: Json
) -> None:
    mid = mapping["id"]
    first = client.post(
        f"/api/v1/mappings/{mid}/edges/toggle",
        json={"source_name": "vegetation", "target_id": 1, "base_version": 1},
        headers=editor,
    )
    assert first.status_code == 200 and first.json()["number"] == 2
    base = f"/api/v1/mappings/{mid}"
    toggles: list[Request] = [
        ("POST", f"{base}/edges/toggle", {"source_name": n, "target_id": t, "base_version": 2})
        for n in ("road", "building", "sky", "unlabeled")
        for t in (2, 255)
    ]
    others: list[Request] = [
        ("POST", f"{base}/targets", {"source_name": "sidewalk", "target_ids": [1, 2], "base_version": 2}),
        ("POST", f"{base}/targets", {"source_name": "vegetation", "target_ids": [2], "base_version": 2}),
        ("PUT", f"{base}/edges", {"edges": [["road", 0]], "base_version": 2}),
        ("PUT", f"{base}/edges", {"edges": [["sky", 2]], "base_version": 2}),
        ("POST", f"{base}/undo", {"base_version": 2}),
        ("POST", f"{base}/versions/1/restore", {"base_version": 2}),
    ]
    requests = (toggles + others) * 2
    responses = _race(app, requests[:24], [editor] * 24)
    assert not [r for r in responses if isinstance(r, Exception)], responses
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 1 and codes.count(409) == len(codes) - 1, [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert winner["number"] == 3
    for r in responses:
        if r.status_code == 409:
            error = r.json()["error"]
            assert error["code"] == "stale_version", error
            current = error["details"]["current_version"]
            assert current["number"] == 3 and current["content_hash"] == winner["content_hash"]
            assert current["edges"] == winner["edges"]
    assert client.get(f"{base}/edges", headers=editor).json()["number"] == 3


@pytest.mark.timeout(240)
def test_racing_approve_and_reject_over_http_one_wins(
    app: FastAPI,
    client: TestClient,
    editor: Headers,
    make_headers: Callable[..., Headers],
) -> None:
    approver, rejecter = make_headers("reviewer"), make_headers("reviewer")
    for i in range(6):
        mid = _new_mapping(client, editor, name=f"city{i}")["id"]
        url = f"/api/v1/mappings/{mid}/versions/1"
        assert client.post(f"{url}/submit", json={}, headers=editor).status_code == 200
        actions = ["approve", "reject"]
        answers = _race(app, [("POST", f"{url}/{a}", {}) for a in actions], [approver, rejecter])
        responses = dict(zip(actions, answers, strict=True))
        codes = sorted(r.status_code for r in responses.values())
        assert codes == [200, 409], {k: r.text for k, r in responses.items()}
        won = next(k for k, r in responses.items() if r.status_code == 200)
        lost = responses["reject" if won == "approve" else "approve"].json()["error"]
        status = "approved" if won == "approve" else "rejected"
        assert lost["details"]["status"] == status
        assert client.get(url, headers=editor).json()["status"] == status
        kinds = [c["kind"] for c in client.get(f"{url}/comments", headers=editor).json()["items"]]
        assert kinds == ["submit", won]
        if won == "approve":
            assert client.post(f"{url}/reject", json={}, headers=rejecter).status_code == 409
            assert client.get(url, headers=editor).json()["status"] == "approved"


@pytest.fixture
def app_with(settings: Settings) -> Iterator[Callable[[str], TestClient]]:
    """``app_with("on")`` -> a client of an app whose UNILABEL_FOUR_EYES is ``on``."""
    clients: list[TestClient] = []

    def make(four_eyes: str) -> TestClient:
        c = TestClient(create_app(settings.model_copy(update={"four_eyes": four_eyes})))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def _own_version_in_review(client: TestClient, author: Headers) -> str:
    mid = _new_mapping(client, author)["id"]
    url = f"/api/v1/mappings/{mid}/versions/1"
    assert client.post(f"{url}/submit", json={"message": "mine"}, headers=author).status_code == 200
    return url


def test_four_eyes_auto_allows_a_single_reviewer_and_records_the_self_approval(
    client: TestClient, make_headers: Callable[..., Headers]
) -> None:
    author = make_headers("reviewer")
    make_headers("editor")  # editors do not count as reviewers
    url = _own_version_in_review(client, author)
    r = client.post(f"{url}/approve", json={"message": "only me here"}, headers=author)
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["self_approved"] is True
    assert client.get(url, headers=author).json()["self_approved"] is True
    items = client.get(f"{url}/comments", headers=author).json()["items"]
    assert [c["kind"] for c in items] == ["submit", "self_approve"] and items[-1]["body"] == "only me here"


def test_four_eyes_auto_refuses_the_author_when_another_reviewer_exists(
    client: TestClient, make_headers: Callable[..., Headers]
) -> None:
    author, colleague = make_headers("admin"), make_headers("reviewer")
    url = _own_version_in_review(client, author)
    r = client.post(f"{url}/approve", json={}, headers=author)
    assert r.status_code == 403
    message = r.json()["error"]["message"]
    assert "four-eyes" in message and "UNILABEL_FOUR_EYES=auto" in message
    assert client.get(url, headers=author).json()["status"] == "in_review"
    r = client.post(f"{url}/approve", json={}, headers=colleague)
    assert r.status_code == 200 and r.json()["self_approved"] is False


def test_four_eyes_on_and_off_settings(
    app_with: Callable[[str], TestClient], make_headers: Callable[..., Headers]
) -> None:
    author = make_headers("reviewer")  # the only reviewer: "auto" would allow it
    strict = app_with("on")
    url = _own_version_in_review(strict, author)
    r = strict.post(f"{url}/approve", json={}, headers=author)
    assert r.status_code == 403 and "UNILABEL_FOUR_EYES=on" in r.json()["error"]["message"]
    make_headers("reviewer")  # a second reviewer: "auto" would refuse it
    lax = app_with("off")
    r = lax.post(f"{url}/approve", json={}, headers=author)
    assert r.status_code == 200 and r.json()["self_approved"] is True
    versions = lax.get(url.rsplit("/", 1)[0], headers=author).json()["items"]
    assert versions[0]["self_approved"] is True
