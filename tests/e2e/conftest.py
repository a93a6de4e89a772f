"""Browser test fixtures: the real app under uvicorn (background thread) + headless Debian Chromium.

The database is a temporary SQLite file built by ``alembic upgrade head``. Tests skip with a
visible reason when ``/usr/bin/chromium`` (Debian package ``chromium``) or Playwright is missing.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.config import load_settings
from app.db.migrate import upgrade_database
from app.db.session import make_engine, make_sessionmaker
from app.services import users as user_service
from tests.services_required import skip_unless_required

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PASSWORD = "e2e password 123"
USERS = (("erin", "editor"), ("eddie", "editor"), ("rita", "reviewer"), ("vera", "viewer"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    session_factory: Any


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """uvicorn serving ``create_app`` on a free port, with users erin/eddie (editors), rita, vera."""
    import uvicorn

    from app.web.main import create_app

    tmp = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{tmp / 'e2e.db'}"
    upgrade_database(url)
    settings = load_settings(
        database_url=url,
        broker_url="memory://",
        data_dir=tmp / "data",
        secret_key="e2e-secret-key-0123456789abcdef",
        public_read=False,
    )
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        for name, role in USERS:
            user_service.create_user(s, name=name, role=role, password=PASSWORD)
        s.commit()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", factory)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the browser tests, stopped after them: Playwright's sync API keeps an event
    loop running in the main thread while it lives, which would break later tests' asyncio.run()."""
    if not CHROMIUM.exists():
        skip_unless_required(
            "/usr/bin/chromium not installed (apt-get install chromium); browser tests skipped"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Any, live_server: LiveServer) -> Iterator[Callable[..., Any]]:
    """``new_page("erin")`` -> a page in a fresh browser context, logged in through the login form.

    JavaScript errors and failed requests other than the expected 4xx answers fail the test.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def make(user: str | None, *, width: int = 1280, height: int = 800, scale: float = 1) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            device_scale_factor=scale,
            accept_downloads=True,
            base_url=live_server.url,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{user}: {exc}"))
        page.on(
            "console",
            lambda msg: (
                errors.append(f"{user}: console {msg.text}")
                if msg.type == "error" and "status of 4" not in msg.text
                else None
            ),
        )
        if user is not None:
            page.goto("/login")
            page.get_by_label("User name").fill(user)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{live_server.url}/")
        return page

    yield make
    for c in contexts:
        c.close()
    assert not errors, f"JavaScript errors in the browser: {errors}"
