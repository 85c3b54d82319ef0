"""The UI in a real headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from spine.orchestration import (
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    register_workflow,
)
from spine.web import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    reason = "no chromium on this machine (Debian package: chromium)"
    if os.environ.get("SPINE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SPINE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

playwright = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def hostile(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.ok(output={"note": "<script>window.__pwned = true</script><b>bold</b>"})


@pytest.fixture
def server(sqlite_url: str) -> Iterator[tuple[str, list[str]]]:
    with WorkflowRunner(database_url=sqlite_url) as runner:
        flow = register_workflow(Workflow("browser.flow", [Step.lambda_("inject", hostile)]))
        ok = runner.execute(flow).run_id
        failing = Workflow(
            "browser.bad", [Step.lambda_("boom", lambda c, k: StepResult.fail("no"))]
        )
        failed = runner.execute(failing).run_id
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(sqlite_url, token="tok"), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", [ok, failed]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def page(server: tuple[str, list[str]]) -> Iterator[Any]:
    """A browser tab signed in to ``server`` through its login page."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            tab = browser.new_page()
            tab.goto(server[0] + "/")
            assert "/login" in tab.url  # a guarded page sends a stranger to sign in
            tab.fill("input[name=token]", "tok")
            tab.click("#login button")
            tab.wait_for_url(server[0] + "/")
            yield tab
        finally:
            browser.close()


def test_runs_page_lists_a_run_made_here(page: Any, server: tuple[str, list[str]]) -> None:
    base, (ok, _) = server
    page.goto(base + "/")
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 2
    assert ok in page.inner_text("#runs")


def test_detail_page_shows_the_timeline(page: Any, server: tuple[str, list[str]]) -> None:
    base, (ok, _) = server
    page.goto(f"{base}/runs/{ok}")
    assert page.locator("#timeline .bar span").count() == 1
    assert "inject #1" in page.inner_text("#timeline")


def test_the_status_filter_works(page: Any, server: tuple[str, list[str]]) -> None:
    base, (ok, failed) = server
    page.goto(base + "/")
    page.select_option("select[name=status]", "FAILED")
    page.click("form.filters button")
    page.wait_for_url("**status=FAILED**")
    text = page.inner_text("#runs")
    assert failed in text
    assert ok not in text


def test_an_injected_script_in_an_output_does_not_run(
    page: Any, server: tuple[str, list[str]]
) -> None:
    base, (ok, _) = server
    page.goto(f"{base}/runs/{ok}")
    assert page.evaluate("window.__pwned === undefined")
    assert "<script>window.__pwned = true</script>" in page.inner_text("#steps")
    assert page.locator("#steps b").count() == 0


def test_the_start_endpoint_refuses_a_wrong_token_and_a_session_without_csrf(
    page: Any, server: tuple[str, list[str]]
) -> None:
    base, _ = server
    api = page.request  # sends the signed-in tab's cookie
    url = f"{base}/api/workflows/browser.flow/runs"
    assert api.post(url, data={"params": {}}).status == 403  # the cookie, no CSRF token
    assert api.post(url, data={"params": {}}, headers={"Authorization": "Bearer no"}).status == 401
    assert api.get(f"{base}/api/runs").status == 200  # reading needs the cookie only


def test_the_run_page_buttons_resume_and_cancel(page: Any, server: tuple[str, list[str]]) -> None:
    base, (_, failed) = server
    page.goto(f"{base}/runs/{failed}")
    assert page.locator("button[data-action=cancel]").count() == 0
    page.click("button[data-action=resume]")
    # (Selectors, not wait_for_function: its string predicate is an eval, which the
    # pages' Content-Security-Policy forbids.)
    page.wait_for_selector("#status.PENDING")
    page.click("button[data-action=cancel]")  # nothing executes it: cancelled at once
    page.wait_for_selector("#status.CANCELLED")
    assert page.locator("button[data-action=resume]").count() == 1


def test_the_start_form_checks_its_json_and_queues_a_run(
    page: Any, server: tuple[str, list[str]]
) -> None:
    base, _ = server
    page.goto(f"{base}/workflows/browser.flow")
    page.fill("textarea[name=params]", "{not json")
    assert "params: not JSON" in page.inner_text("#start-message")
    assert page.is_disabled("#start-run button")
    page.fill("textarea[name=params]", "[1, 2]")
    assert "must be a JSON object" in page.inner_text("#start-message")
    page.fill("textarea[name=params]", '{"rows": 3}')
    assert page.inner_text("#start-message") == ""
    page.click("#start-run button")
    page.wait_for_url("**/runs/**")
    assert page.inner_text("#status") == "PENDING"  # queued: no worker serves this test
    assert page.inner_text("#trigger") == "ui"


def test_signing_out_ends_the_session(page: Any, server: tuple[str, list[str]]) -> None:
    base, _ = server
    page.click("#logout")
    page.wait_for_url("**/login**")
    page.goto(base + "/")
    assert "/login" in page.url


def test_a_running_runs_page_updates_in_place(page: Any, sqlite_url: str) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        started.set()
        release.wait(20)
        return {"done": True}

    flow = Workflow("browser.live", [Step.lambda_("slow", slow), Step.lambda_("after", hostile)])
    runs: list[str] = []

    def execute() -> None:
        with WorkflowRunner(database_url=sqlite_url) as runner:
            runs.append(runner.execute(flow).run_id)

    worker = threading.Thread(target=execute)
    worker.start()
    try:
        assert started.wait(10)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(sqlite_url), host="127.0.0.1",
                                               port=port, log_level="warning"))  # fmt: skip
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        from spine.store import open_store

        store = open_store(sqlite_url)
        [running] = store.list_runs(workflow="browser.live")
        store.close()
        page.goto(f"http://127.0.0.1:{port}/runs/{running.run_id}")
        assert page.inner_text("#status") == "RUNNING"
        page.evaluate("window.__same_page = true")
        release.set()
        page.wait_for_selector("#status.COMPLETED", timeout=15000)
        assert page.evaluate("window.__same_page === true")  # updated without a reload
        assert "after" in page.inner_text("#steps")
        server.should_exit = True
        thread.join(timeout=10)
    finally:
        release.set()
        worker.join(timeout=20)
