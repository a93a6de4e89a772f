"""The job page's progress: the ETA is smoothed across polls (the polling element carries the
estimator's state) and says "estimating" only before the first finished batch; the header and the
status card show the same times; shard log lines link to the shard."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.db.models_registry import Job
from app.services import jobs as job_service
from tests.web.pages.conftest import Registry, unescape
from tests.web.pages.test_jobs import _set, _submit

HX = {"HX-Request": "true"}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Tasks sent after commit (captured instead of reaching a broker)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: calls.append((name, kw)))
    return calls


def _eta_seconds(fragment: str) -> int | None:
    text = unescape(fragment)
    if "ETA estimating" in text:
        return None
    m = re.search(r"ETA (?:(\d+) min )?(\d+) s", text)
    assert m, text[:2000]
    return int(m.group(1) or 0) * 60 + int(m.group(2))


def _state(fragment: str) -> str:
    m = re.search(r"hx-vals='\{\"eta\": \"([^\"]+)\"\}'", fragment.split(">", 1)[0])
    assert m, fragment.split(">", 1)[0]
    return m.group(1)


def test_eta_is_estimating_only_before_the_first_batch(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent
) -> None:
    job_id = _submit(login, registry, sent)
    started = utcnow() - timedelta(seconds=60)
    _set(session_factory, job_id, status="running", started_at=started, progress_current=0, progress_total=6)
    viewer = login("viewer")
    frag = viewer.get(f"/jobs/{job_id}/status", headers=HX).text
    assert _eta_seconds(frag) is None and "until the first batch is done" in unescape(frag)
    state = _state(frag)
    _set(session_factory, job_id, progress_current=2)  # the first batch: 2 items in 60 s
    frag = viewer.get(f"/jobs/{job_id}/status", params={"eta": state}, headers=HX).text
    assert 118 <= (_eta_seconds(frag) or 0) <= 125  # 4 left at 2 per minute (plus the test's own time)


def test_eta_counts_down_between_batches_instead_of_growing(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent
) -> None:
    """The old estimate, elapsed*(1-f)/f, grew by 20 s per 20 s while a batch ran; now the poll
    carries the last change's time and rate, and the estimate falls instead."""
    job_id = _submit(login, registry, sent)
    now = utcnow()
    _set(session_factory, job_id, status="running", started_at=now - timedelta(seconds=100),
         progress_current=3, progress_total=6)  # fmt: skip
    viewer = login("viewer")
    # The last batch landed 20 s ago; the smoothed rate is 0.05 items/s (20 s per item).
    state = f"3:{(now - timedelta(seconds=20)).timestamp():.3f}:0.05:1:1:1"
    frag = viewer.get(f"/jobs/{job_id}/status", params={"eta": state}, headers=HX).text
    assert 35 <= (_eta_seconds(frag) or 0) <= 40  # 60 s for 3 items, 20 s of them gone
    assert _state(frag) == state  # nothing changed: the state goes round unchanged
    # Rubbish from a client is ignored (the overall rate is used: 3 items in 100 s -> 100 s left).
    frag = viewer.get(f"/jobs/{job_id}/status", params={"eta": "1:nan:x:1:1:1"}, headers=HX).text
    assert 98 <= (_eta_seconds(frag) or 0) <= 105


def test_header_and_status_card_show_the_same_times(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent
) -> None:
    job_id = _submit(login, registry, sent)
    now = utcnow()
    _set(session_factory, job_id, created_at=now - timedelta(hours=2), queued_at=now - timedelta(minutes=5),
         started_at=now - timedelta(minutes=4), status="running", progress_total=6)  # fmt: skip
    viewer = login("viewer")
    page = unescape(viewer.get(f"/jobs/{job_id}").text)
    header = page[page.index(f'id="job-{job_id}-times"') :].split("</p>", 1)[0]
    card = page[page.index(f'id="job-{job_id}-status"') :].split("</dl>", 1)[0]
    for label, shown in (("ubmitted", "2 h ago"), ("e-queued", "5 min ago"), ("tarted", "4 min ago")):
        assert re.search(label + r' <time datetime="[^"]+" title="[^"]+">' + shown, header), header
        assert re.search(label + r'</dt><dd><time datetime="[^"]+" title="[^"]+">' + shown, card), card
    assert "running for 4 min" in header and "Running for</dt><dd>4 min" in card
    # The poll refreshes the header's times too, so they never drift apart.
    frag = viewer.get(f"/jobs/{job_id}/status", headers=HX).text
    assert re.search(rf'<p id="job-{job_id}-times"[^>]*hx-swap-oob="true"', frag)


def test_shard_log_lines_link_to_the_shard(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory: sessionmaker[Session], sent
) -> None:
    job_id = _submit(login, registry, sent)
    with session_factory() as s:
        shards = [
            Job(kind="pseudo_label", parent_id=job_id, shard_index=i, status="running", name=f"s{i}")
            for i in range(2)
        ]
        s.add_all(shards)
        s.flush()
        job_service.log(s, shards[1].id, "shard 1: 12 images left")
        s.commit()
        shard_id = shards[1].id
    viewer = login("viewer")
    page = viewer.get(f"/jobs/{job_id}").text
    line = page[page.index("shard 1: 12 images left") - 400 :].split("shard 1: 12 images left")[0]
    assert f'<a class="log-shard" href="/jobs/{shard_id}"' in line and ">shard 1</a>" in line
    assert f'<a href="/jobs/{shard_id}"' in page.split(f'id="job-{job_id}-shard-1"', 1)[1].split("</tr>")[0]
    shard_page = unescape(viewer.get(f"/jobs/{shard_id}").text)
    assert f'<a href="/jobs/{job_id}">#{job_id}</a> / shard 1' in shard_page


def test_the_api_smooths_eta_like_the_page(  # type: ignore[no-untyped-def]
    login, registry: Registry, session_factory, sent
) -> None:
    """GET /api/v1/jobs/{id} returns ``eta_state``; sent back, it smooths ``eta_seconds`` exactly as
    the page's poll does (the same estimator state gives the same ETA in both)."""
    job_id = _submit(login, registry, sent)
    now = utcnow()
    _set(session_factory, job_id, status="running", started_at=now - timedelta(seconds=100),
         progress_current=3, progress_total=6)  # fmt: skip
    viewer = login("viewer")
    state = f"3:{(now - timedelta(seconds=20)).timestamp():.3f}:0.05:1:1:1"
    read = viewer.get(f"/api/v1/jobs/{job_id}", params={"eta_state": state}).json()
    frag = viewer.get(f"/jobs/{job_id}/status", params={"eta": state}, headers=HX).text
    assert 35 <= read["eta_seconds"] <= 40 and read["eta_state"] == state == _state(frag)
    assert abs(read["eta_seconds"] - (_eta_seconds(frag) or 0)) <= 1.5  # the page rounds to seconds
    # A first read has only the overall rate: 3 items in 100 s -> 100 s for the 3 left.
    first = viewer.get(f"/api/v1/jobs/{job_id}").json()
    assert 98 <= first["eta_seconds"] <= 105
    # The next item lands: with the state the rate stays 0.03/s (2 left -> ~67 s), where the overall
    # rate would jump to 4 in 100 s (50 s): the API no longer saw-tooths (slack: the test's own time).
    _set(session_factory, job_id, progress_current=4)
    smoothed = viewer.get(f"/api/v1/jobs/{job_id}", params={"eta_state": first["eta_state"]}).json()
    assert 64 <= smoothed["eta_seconds"] <= 72 and smoothed["eta_state"].startswith("4:")
    # Anything else than a state the API wrote is a 422 naming the parameter.
    bad = viewer.get(f"/api/v1/jobs/{job_id}", params={"eta_state": "1:nan:x:1:1:1"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "eta_state", bad.text
    finished = viewer.get("/api/v1/jobs", params={"status": "running"}).json()["items"]
    assert [j["id"] for j in finished] == [job_id] and finished[0]["eta_state"].startswith("4:")
