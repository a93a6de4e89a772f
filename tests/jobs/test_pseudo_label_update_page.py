"""The job page's *Update* button (issue 12): a stale pseudo-label run is updated from the browser.

``POST /jobs/{id}/update`` submits the same job as ``unilabel job submit --update-from``: the run's
teacher, dataset and ``UPDATE_KEEPS`` options with the newer mapping version. Editors only (CSRF
checked); a refusal re-renders the job page with the reason and a 4xx status.
"""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from app.cli import app as cli
from app.services.pseudo_label_updates import UPDATE_KEEPS
from tests.jobs.conftest import approve_version
from tests.jobs.test_cli_jobs import runner
from tests.jobs.test_pseudo_label_updates import (
    COUNT,
    _images_with_truck,
    _new_version,
    _run,
    api,
    streets,
)
from tests.web.pages.conftest import Browser
from tests.web.pages.conftest import login as login  # noqa: F401  (fixture)

__all__ = ["api", "streets"]  # fixtures

Headers = dict[str, str]
FORM = re.compile(r'<form[^>]*action="/jobs/(\d+)/update".*?</form>', re.S)


def _page(browser: Browser, url: str) -> str:
    r = browser.get(url)
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    return html.unescape(r.text)  # type: ignore[attr-defined]


def _button(page: str) -> str | None:
    """The update form's mapping version id, or None without a button."""
    form = FORM.search(page)
    if form is None:
        return None
    assert "Update to v" in form.group(0) and 'name="csrf_token"' in form.group(0)
    version = re.search(r'name="mapping_version_id" value="(\d+)"', form.group(0))
    assert version, form.group(0)
    return version.group(1)


def _total(client: TestClient, headers: Headers) -> int:
    return int(client.get("/api/v1/jobs", headers=headers).json()["total"])


def test_the_button_submits_the_same_update_as_the_cli(  # type: ignore[no-untyped-def]
    login, api: TestClient, editor: Headers, reviewer: Headers, streets: dict[str, Any]
) -> None:
    w = streets
    old = _run(api, editor, w, split="val", write_teacher=False, threshold=0.2)
    eddie, vera = login("editor"), login("viewer")
    assert _button(_page(eddie, f"/jobs/{old['id']}")) is None  # no newer version: nothing to update

    quiet = _new_version(api, editor, reviewer, w, [], label="unlabeled")  # same allowed sets
    page = _page(eddie, f"/jobs/{old['id']}")
    assert f"not stale against v{quiet['number']}" in page and _button(page) is None

    w["mapping"] = w["mapping"] | {"current_version": quiet}  # the next edit's base
    v3 = _new_version(api, editor, reviewer, w, [2])  # truck: vehicle -> vegetation
    page = _page(eddie, f"/jobs/{old['id']}")
    assert "images contain labels whose allowed set changed (truck)" in page
    assert _button(page) == str(v3["id"]) and f"Update to v{v3['number']}" in page
    viewed = _page(vera, f"/jobs/{old['id']}")
    assert "allowed set changed (truck)" in viewed and _button(viewed) is None  # viewers: no button

    before = _total(api, editor)
    r = vera.post(f"/jobs/{old['id']}/update", {"mapping_version_id": str(v3["id"])})
    assert r.status_code == 403, r.text
    r = eddie.client.post(  # no CSRF token
        f"/jobs/{old['id']}/update", data={"mapping_version_id": str(v3["id"])}, follow_redirects=False
    )
    assert r.status_code == 403 and "CSRF" in r.text, r.text
    assert _total(api, editor) == before  # nothing stored

    r = eddie.post(f"/jobs/{old['id']}/update", {"mapping_version_id": str(v3["id"])})
    assert r.status_code == 303, r.text
    job_id = int(r.headers["location"].removeprefix("/jobs/"))
    page = _page(eddie, r.headers["location"])
    assert f"Job {job_id} queued: update of job {old['id']} to mapping v{v3['number']}." in page
    assert f'<a href="/jobs/{old["id"]}">job {old["id"]}</a>' in page  # "Update of"

    token = editor["Authorization"].split()[1]
    args = ["job", "submit", "--update-from", str(old["id"]), "--mapping-version", str(v3["id"])]
    result = runner.invoke(cli, [*args, "--no-watch", "--token", token])
    assert result.exit_code == 0, result.output
    cli_id = int(result.output.split("submitted job ")[1].split()[0])
    ours, theirs = (api.get(f"jobs/{i}").json() for i in (job_id, cli_id))  # base URL: /api/v1/
    assert ours["params"] == theirs["params"]  # exactly the CLI's job
    params = ours["params"]
    assert (params["update_from_job_id"], params["mapping_version_id"]) == (old["id"], v3["id"])
    assert {k: params[k] for k in UPDATE_KEEPS} == {k: old["params"][k] for k in UPDATE_KEEPS}
    assert (params["split"], params["write_teacher"], params["threshold"]) == ("val", False, 0.2)

    w["queue"].drain()
    job = api.get(f"jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    relabelled = {i for i in _images_with_truck(w["root"]) if i.startswith("images/val/")}
    assert job["result"]["images_relabelled"] == len(relabelled)
    assert job["result"]["images_relabelled"] + job["result"]["images_carried_over"] == old["progress_total"]
    assert old["progress_total"] < COUNT  # only the val split, as the run


def test_refusals_are_shown_on_the_page_with_a_4xx(  # type: ignore[no-untyped-def]
    login, client: TestClient, editor: Headers, reviewer: Headers, streets: dict[str, Any]
) -> None:
    w = streets
    old = _run(client, editor, w)
    v2 = _new_version(client, editor, reviewer, w, [2])
    other = w["post"](
        "/api/v1/mappings",
        {
            "name": "other",
            "source_taxonomy_id": w["source"]["id"],
            "target_taxonomy_id": w["target"]["id"],
            "edges": [["road", 0]],
        },
    )
    approve_version(client, editor, reviewer, other)  # approved, but of another mapping
    train = {"kind": "train", "train_sets": [{"kind": "pseudo_labels", "job_id": old["id"]}]}
    train_id = client.post("/api/v1/jobs", json={"params": train}, headers=editor).json()["id"]
    w["queue"].pending.clear()
    eddie = login("editor")
    before = _total(client, editor)

    cases = [
        (old["id"], "", 422, "mapping_version_id must be a mapping version's id"),
        (old["id"], "v2", 422, "got 'v2'"),
        (old["id"], "0", 422, "(a positive whole number), got '0'"),
        (old["id"], "99999999999", 422, "a positive whole number"),
        (old["id"], "999999", 404, "999999"),
        (old["id"], str(w["v1"]["id"]), 422, "an update needs a version newer than job"),
        (old["id"], str(other["current_version"]["id"]), 422, "belongs to another mapping than the run's"),
        (train_id, str(v2["id"]), 422, f"job {train_id} is a train job, not a pseudo_label run"),
    ]
    for job_id, version, status, message in cases:
        r = eddie.post(f"/jobs/{job_id}/update", {"mapping_version_id": version})
        assert r.status_code == status, (version, r.text)
        page = html.unescape(r.text)
        assert "Update refused: " in page and message in page, (version, page)
        assert f"<h1>#{job_id} " in page  # the job's own page, with the reason as a toast
    assert eddie.post("/jobs/999999/update", {"mapping_version_id": str(v2["id"])}).status_code == 404
    assert _total(client, editor) == before  # nothing stored
    assert not w["queue"].pending
