"""End-to-end (issue 11, first minutes and visuals): API docs offline, icons, toasts, getting started."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def _offline(page: Any, live_server: LiveServer) -> list[str]:
    """Abort every request that leaves the test server (as on a machine without internet)."""
    blocked: list[str] = []

    def handle(route: Any) -> None:
        if route.request.url.startswith(live_server.url) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.context.route("**/*", handle)
    return blocked


def test_swagger_ui_and_redoc_render_without_internet(new_page: Any, live_server: LiveServer) -> None:
    page = new_page(None)
    blocked = _offline(page, live_server)
    page.goto("/docs")
    page.locator(".opblock").first.wait_for()  # operations rendered from /openapi.json
    assert page.locator(".opblock-summary-path", has_text="/api/v1/taxonomies").count() > 0
    page.goto("/redoc")
    page.get_by_role("heading", name="unilabel").first.wait_for()
    page.get_by_text("/api/v1/taxonomies").first.wait_for(state="attached")
    assert blocked == []
