"""``unilabel job submit/watch/list``: the job commands of the CLI, speaking the REST API (outer layer).

They use the HTTP API (``--url``, default ``$UNILABEL_URL`` or http://127.0.0.1:8000) with a
Bearer token (``--token`` or ``$UNILABEL_TOKEN``, printed by ``unilabel user create``), so they work
against any server, local or remote, and never touch the database directly.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import httpx
import typer
from tqdm import tqdm

from app.services.jobs import TASK_OF_KIND
from app.services.pseudo_label_updates import UPDATE_KEEPS

job_app = typer.Typer(help="Submit and watch jobs through the REST API.", no_args_is_help=True)

UrlOpt = Annotated[str, typer.Option("--url", envvar="UNILABEL_URL", help="Server base URL")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="UNILABEL_TOKEN", help="API token")]
TERMINAL = ("succeeded", "failed", "cancelled")
UPDATE_FROM_HELP = (
    "update this succeeded pseudo_label run to --mapping-version (a newer version of its mapping): "
    "its teacher, dataset, split and options are reused; only the images containing a label whose "
    "allowed set changed are re-labelled, the others carried over"
)
KIND_HELP = " | ".join(TASK_OF_KIND)  # every kind the API queues: cannot drift from the task table


TIMEOUT_S = 30


class _SayingTransport(httpx.HTTPTransport):
    """A server that cannot be reached is one red line naming the URL and what to do, exit code 2
    (not an httpx traceback)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.ConnectError as exc:
            where = f"{request.url.scheme}://{request.url.netloc.decode()}"
            typer.secho(
                f"cannot reach the unilabel server at {where} ({exc}): start it with `make run` or "
                "`unilabel serve`, or point --url / $UNILABEL_URL at a running one",
                err=True,
                fg="red",
            )
            raise typer.Exit(2) from None
        except httpx.TimeoutException:
            typer.secho(
                f"the unilabel server at {request.url.host} did not answer {request.method} "
                f"{request.url.path} within {TIMEOUT_S} s",
                err=True,
                fg="red",
            )
            raise typer.Exit(2) from None


def _client(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=url.rstrip("/") + "/api/v1",
        headers=headers,
        timeout=TIMEOUT_S,
        transport=_SayingTransport(),
    )


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            error = response.json().get("error", {})
            listed = (error.get("details") or {}).get("errors")
            if isinstance(listed, list) and listed:  # several problems at once: one line each
                message = f"{len(listed)} problems:" + "".join(
                    f"\n  {item.get('field') or '-'}: {item.get('message')}" for item in listed
                )
            else:
                where = f" (field {error['field']})" if error.get("field") else ""
                message = f"{error.get('message', response.text)}{where}"
        except ValueError:
            message = response.text
        typer.secho(f"error {response.status_code}: {message}", err=True, fg="red")
        raise typer.Exit(1)
    return response.json()


@job_app.command("submit")
def submit(
    model: Annotated[int | None, typer.Option("--model", help="model id")] = None,
    dataset: Annotated[int | None, typer.Option("--dataset", help="dataset id")] = None,
    mapping_version: Annotated[
        int | None, typer.Option("--mapping-version", help="mapping version id")
    ] = None,
    kind: Annotated[str, typer.Option(help=KIND_HELP)] = "pseudo_label",
    tta: Annotated[bool, typer.Option("--tta/--no-tta", help="test-time augmentation")] = True,
    output_name: Annotated[str | None, typer.Option(help="output folder name (pseudo_label)")] = None,
    shard_size: Annotated[int, typer.Option(help="images per shard (pseudo_label)")] = 50,
    split: Annotated[str | None, typer.Option(help="only this split")] = None,
    queue: Annotated[str, typer.Option(help="default | gpu | cpu")] = "default",
    allow_unapproved: Annotated[bool, typer.Option(help="use an unapproved mapping version")] = False,
    override_reason: Annotated[str | None, typer.Option(help="recorded with --allow-unapproved")] = None,
    param: Annotated[list[str] | None, typer.Option(help="extra KEY=JSON parameter")] = None,
    update_from: Annotated[int | None, typer.Option("--update-from", help=UPDATE_FROM_HELP)] = None,
    watch_job: Annotated[bool, typer.Option("--watch/--no-watch", help="follow progress until done")] = True,
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """Submit a job; with --watch (default) show a progress bar until it ends."""
    params: dict[str, Any] = {"kind": kind, "queue": queue}
    if kind in ("scan_dataset", "convert_labels"):
        params["dataset_id"] = dataset
    else:
        params |= {
            "model_id": model,
            "dataset_id": dataset,
            "mapping_version_id": mapping_version,
            "tta": tta,
            "split": split,
            "allow_unapproved": allow_unapproved,
            "override_reason": override_reason,
        }
        if kind == "pseudo_label":
            params |= {"output_name": output_name, "shard_size": shard_size}
    for item in param or []:
        key, _, value = item.partition("=")
        params[key] = json.loads(value)
    with _client(url, token) as client:
        if update_from is not None:
            params = _update_params(
                client, update_from, params, explicit={k for k, _ in map(_key, param or [])}
            )
        job = _check(client.post("/jobs", json={"params": params}))
        typer.echo(f"submitted job {job['id']} ({job['kind']}), status {job['status']}")
        if watch_job:
            raise typer.Exit(_watch(client, int(job["id"])))


def _key(item: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    return key, value


def _update_params(
    client: httpx.Client, job_id: int, params: dict[str, Any], *, explicit: set[str]
) -> dict[str, Any]:
    """``params`` with the earlier run's teacher, dataset, split and options (``--param`` wins).

    The kept keys are the service's ``UPDATE_KEEPS``, which the job page's Update button also copies
    (the server checks they are equal to the run's).
    """
    earlier = _check(client.get(f"/jobs/{job_id}"))["params"]
    kept = {k: earlier[k] for k in UPDATE_KEEPS if k in earlier and k not in explicit}
    return params | kept | {"kind": "pseudo_label", "update_from_job_id": job_id}


def _watch(client: httpx.Client, job_id: int, interval: float = 1.0) -> int:
    """Poll the job with a tqdm bar; exit status 0 when it succeeded."""
    job = _check(client.get(f"/jobs/{job_id}"))
    with tqdm(total=max(1, job["progress_total"]), unit="img", desc=f"job {job_id}") as bar:
        while True:
            if job["progress_total"] and bar.total != job["progress_total"]:
                bar.total = job["progress_total"]
            bar.n = job["progress_current"]
            bar.set_postfix_str(job["status"])
            bar.refresh()
            if job["status"] in TERMINAL:
                break
            time.sleep(interval)
            job = _check(client.get(f"/jobs/{job_id}"))
    colour = {"succeeded": "green", "failed": "red"}.get(job["status"], "yellow")
    typer.secho(f"job {job_id} {job['status']}: {job['message']}", fg=colour)
    if job.get("error"):
        typer.echo(job["error"])
    if job.get("output_dir"):
        typer.echo(f"outputs: {job['output_dir']}")
    return 0 if job["status"] == "succeeded" else 1


@job_app.command("watch")
def watch(
    job_id: Annotated[int, typer.Argument(help="job id")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """Follow a job's progress until it ends (exit status 0 when it succeeded)."""
    with _client(url, token) as client:
        raise typer.Exit(_watch(client, job_id))


@job_app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="filter by status")] = None,
    kind: Annotated[str | None, typer.Option(help="filter by kind")] = None,
    limit: Annotated[int, typer.Option(help="rows")] = 20,
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """List recent jobs."""
    query = {k: v for k, v in {"status": status, "kind": kind, "limit": limit}.items() if v is not None}
    with _client(url, token) as client:
        page = _check(client.get("/jobs", params=query))
    for job in page["items"]:
        pct = 100.0 * job["progress_fraction"]
        typer.echo(f"{job['id']:>5}  {job['kind']:<13} {job['status']:<10} {pct:5.1f}%  {job['name']}")
    typer.echo(f"({len(page['items'])} of {page['total']})")


@job_app.command("staleness")
def staleness(
    job_id: Annotated[int, typer.Argument(help="pseudo_label job id")],
    version: Annotated[
        int | None, typer.Option("--version", help="mapping version id (default: newest approved)")
    ] = None,
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """Say how many images of a pseudo-label run a newer mapping version would re-label."""
    query = {"version_id": version} if version is not None else {}
    with _client(url, token) as client:
        report = _check(client.get(f"/jobs/{job_id}/staleness", params=query))
    typer.echo(report["message"])
    for change in report["changes"]:
        typer.echo(f"  {change['name']}: {change['old']} -> {change['new']}")
