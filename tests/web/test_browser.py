"""The UI in a real headless Chromium (Debian's package, driven by Playwright): each
page and action, with the token on (signed in through the login page) and off.

One browser and one history serve the module: two servers over it, one with a token and
one without. Tests that change a run make their own."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from spine.commands import cancel_run
from spine.orchestration import (
    QualityMetrics,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    register_workflow,
)
from spine.store import open_store
from spine.web import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    reason = "no chromium on this machine (Debian package: chromium)"
    if os.environ.get("SPINE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SPINE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

playwright = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

# One worker runs the module, so its browser and servers start once.
pytestmark = pytest.mark.xdist_group("browser")

ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "tok"


def hostile(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.ok(output={"note": "<script>window.__pwned = true</script><b>bold</b>"})


def rows(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    quality = QualityMetrics(record_count=10, valid_count=9, passed=True)
    return StepResult.ok(output={"rows": [{"n": i} for i in range(ctx.get_param("n", 3))]},
                         quality=quality)  # fmt: skip


def square(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    if ctx.get_param("item") == 13:
        return StepResult.fail("13 is unlucky")
    return StepResult.ok(output={"v": ctx.get_param("item") ** 2})


FLOW = Workflow("browser.flow", [Step.lambda_("inject", hostile)])
BAD = Workflow(
    "browser.bad",
    [
        Step.lambda_("start", lambda c, k: {}),
        Step.lambda_("boom", lambda c, k: StepResult.fail("no")),
    ],
)
ITEM = Workflow("browser.square", [Step.lambda_("sq", square)])
FAN = Workflow("browser.fan", [
    Step.lambda_("produce", rows),
    Step.choice("big", lambda c: c.get_param("n", 3) > 5, then_step="each", else_step="small"),
    Step.lambda_("small", lambda c, k: {}, next="end"),
    Step.map("each", "numbers", ITEM, max_concurrency=2),
    Step.lambda_("end", lambda c, k: {}),
])  # fmt: skip
WORKFLOWS = (FLOW, BAD, ITEM, FAN)


@pytest.fixture(autouse=True)
def _registered() -> None:
    # The registries are emptied around each test; the servers look workflows up there.
    for workflow in WORKFLOWS:
        register_workflow(workflow)


class History:
    """The module's runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        with WorkflowRunner(database_url=url) as runner:
            self.ok = runner.execute(FLOW).run_id
            self.failed = runner.execute(BAD).run_id
            self.fan = runner.execute(FAN, params={"n": 8, "numbers": list(range(120))}).run_id
            self.big = runner.execute(FAN, params={"n": 5000, "numbers": []}).run_id
            self.pending = runner.submit(FLOW, triggered_by="api")

    def execute(self, workflow: Workflow) -> str:
        with WorkflowRunner(database_url=self.url) as runner:
            return runner.execute(workflow).run_id


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    for workflow in WORKFLOWS:
        register_workflow(workflow)
    return History(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'history.db'}")


def serve(app: Any) -> tuple[str, Any, threading.Thread]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def servers(history: History) -> Iterator[dict[str, str]]:
    """The history served with the token (``"token"``) and without (``"open"``)."""
    started = {"token": serve(create_app(history.url, token=TOKEN)),
               "open": serve(create_app(history.url))}  # fmt: skip
    try:
        yield {name: base for name, (base, _, _) in started.items()}
    finally:
        for _, server, thread in started.values():
            server.should_exit = True
            thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


class Tab:
    """A tab on one server, and every request it made elsewhere and every console error
    (a Content-Security-Policy refusal is one)."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.foreign: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(base) else self.foreign.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page


@pytest.fixture(params=["token", "open"])
def tab(request: pytest.FixtureRequest, browser: Any, servers: dict[str, str]) -> Iterator[Tab]:
    """A fresh tab on the server with the token (signed in through its login page) or
    on the one without; it loaded nothing from elsewhere and logged no error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    base = servers[request.param]
    tab = Tab(context.new_page(), base)
    if request.param == "token":
        tab.open("/")
        assert "/login" in tab.page.url  # a guarded page sends a stranger to sign in
        tab.page.fill("input[name=token]", TOKEN)
        tab.page.click("#login button")
        tab.page.wait_for_url(base + "/")
    try:
        yield tab
    finally:
        context.close()
    assert tab.foreign == []
    assert tab.errors == []


def graph_statuses(page: Any) -> dict[str, str]:
    page.wait_for_selector("#graph[data-drawn]")
    return dict(page.evaluate(
        "document.getElementById('graph').spineGraph.nodes().map(n => [n.id(), n.data('status')])"
    ))  # fmt: skip


def test_the_runs_list_filters_by_workflow_status_and_trigger(tab: Tab, history: History) -> None:
    page = tab.open("/")
    assert history.ok in page.inner_text("#runs")
    page.select_option("select[name=status]", "FAILED")
    page.click("form.filters button")
    page.wait_for_url("**status=FAILED**")
    assert history.failed in page.inner_text("#runs")
    assert history.ok not in page.inner_text("#runs")
    page.select_option("select[name=status]", "")
    page.select_option("select[name=trigger]", "api")
    page.fill("input[name=workflow]", "browser.flow")
    page.click("form.filters button")
    page.wait_for_url("**trigger=api**")
    assert page.locator("#runs tbody tr").count() == 1
    assert history.pending in page.inner_text("#runs")
    page.fill("input[name=until]", "2000-01-01T00:00")
    page.click("form.filters button")
    page.wait_for_url("**until=2000**")
    assert page.inner_text("#runs tbody") == "no runs match"


def test_a_run_page_draws_the_path_taken_and_a_timeline(tab: Tab, history: History) -> None:
    page = tab.open(f"/runs/{history.fan}")
    statuses = graph_statuses(page)
    # n=8: the choice went to the map, never to "small".
    assert statuses == {"produce": "COMPLETED", "big": "COMPLETED", "small": "PENDING",
                        "each": "FAILED", "end": "PENDING"}  # fmt: skip
    taken = page.evaluate("document.getElementById('graph').spineGraph.edges('[?taken]')"
                          ".map(e => e.data('source') + '>' + e.data('target'))")  # fmt: skip
    assert sorted(taken) == ["big>each", "produce>big"]
    page.wait_for_selector("#timeline[data-drawn]")
    bars = page.evaluate("Chart.getChart(document.getElementById('timeline')).data.labels")
    assert bars == ["0. produce #1", "1. big #1", "2. each #1"]
    assert '"n": 8' in page.inner_text("#params")
    assert page.inner_text("#trigger") == "manual"


def test_a_map_run_lists_its_items_by_index_a_page_at_a_time(tab: Tab, history: History) -> None:
    page = tab.open(f"/runs/{history.fan}")
    cells = page.locator("#items tbody tr").first.locator("td").all_inner_texts()
    assert cells[:4] == ["each", "0", "0", "COMPLETED"]
    assert page.locator("#items tbody tr").count() == 100
    unlucky = page.locator("#items tbody tr").nth(13).locator("td").all_inner_texts()
    assert unlucky[1:4] == ["13", "13", "FAILED"]
    page.click("#item-list a[rel=next]")
    page.wait_for_url("**item_page=2**")
    assert page.locator("#items tbody tr").count() == 20
    assert page.locator("#items tbody tr").first.locator("td").nth(1).inner_text() == "100"


def test_a_failed_run_shows_where_it_stopped_and_resumes_and_cancels(
    tab: Tab, history: History
) -> None:
    failed = history.execute(BAD)
    page = tab.open(f"/runs/{failed}")
    assert "stopped at boom" in page.inner_text("#failure")
    assert graph_statuses(page) == {"start": "COMPLETED", "boom": "FAILED"}
    assert page.locator("button[data-action=cancel]").count() == 0
    page.click("button[data-action=resume]")
    # (Selectors, not wait_for_function: its string predicate is an eval, which the
    # pages' Content-Security-Policy forbids.)
    page.wait_for_selector("#status.PENDING")
    page.click("button[data-action=cancel]")  # nothing executes it: cancelled at once
    page.wait_for_selector("#status.CANCELLED")
    assert page.locator("button[data-action=resume]").count() == 1


def test_a_large_output_is_previewed_and_downloaded_whole(tab: Tab, history: History) -> None:
    page = tab.open(f"/runs/{history.big}")
    link = page.locator("a.download")
    assert link.count() == 1
    assert len(page.locator("#steps pre").first.inner_text()) < 2100
    whole = page.request.get(tab.base + link.get_attribute("href")).json()
    assert len(whole["rows"]) == 5000


def test_an_injected_script_in_an_output_does_not_run(tab: Tab, history: History) -> None:
    page = tab.open(f"/runs/{history.ok}")
    assert page.evaluate("window.__pwned === undefined")
    assert "<script>window.__pwned = true</script>" in page.inner_text("#steps")
    assert page.locator("#steps b").count() == 0


def test_the_workflows_page_and_a_workflow_page_with_charts(tab: Tab, history: History) -> None:
    page = tab.open("/workflows")
    row = page.locator("#workflows tr", has_text="browser.fan")
    assert "0% of 2 ended" in row.inner_text()  # both fan runs failed (the unlucky item)
    assert "browser.bad" in page.inner_text("#workflows")
    row.locator("a").first.click()
    page.wait_for_url("**/workflows/browser.fan")
    assert set(graph_statuses(page)) == {"produce", "big", "small", "each", "end"}
    page.wait_for_selector("#durations[data-drawn]")
    scale = page.evaluate("Chart.getChart(document.getElementById('durations')).scales.y.type")
    assert scale == "logarithmic"
    points = page.evaluate("Chart.getChart(document.getElementById('quality-chart')).data"
                           ".datasets[0].data")  # fmt: skip
    assert points == [90, 90]


def test_the_start_form_checks_its_json_and_queues_a_run(tab: Tab) -> None:
    page = tab.open("/workflows/browser.flow")
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


def test_live_pages_update_in_place(tab: Tab, browser: Any, history: History) -> None:
    with WorkflowRunner(database_url=history.url) as runner:
        queued = runner.submit(FLOW)
    run_page = tab.open(f"/runs/{queued}")
    runs_page = tab.page.context.new_page()
    runs_page.goto(f"{tab.base}/?workflow=browser.flow&status=PENDING")
    run_page.evaluate("window.__same_page = true")
    runs_page.evaluate("window.__same_page = true")
    assert run_page.inner_text("#status") == "PENDING"
    store = open_store(history.url)
    try:
        cancel_run(store, queued)
    finally:
        store.close()
    run_page.wait_for_selector("#status.CANCELLED", timeout=10000)
    # The runs list shows the run it listed with its new status (its filter is not re-run
    # by anyone: the page fetches itself again, so the run leaves the PENDING list).
    runs_page.wait_for_selector(f"#runs:not(:has-text('{queued}'))", timeout=10000)
    assert run_page.evaluate("window.__same_page === true")  # no reload
    assert runs_page.evaluate("window.__same_page === true")


def test_the_api_documentation_works_offline(tab: Tab) -> None:
    page = tab.open("/docs")
    page.wait_for_selector(".opblock")
    shown = page.inner_text("#swagger-ui")
    assert "/api/runs/{run_id}/steps/{step_order}/{attempt}/output" in shown


def test_the_start_endpoint_refuses_a_wrong_token_and_a_session_without_csrf(
    browser: Any, servers: dict[str, str]
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(servers["token"] + "/login")
    page.fill("input[name=token]", TOKEN)
    page.click("#login button")
    page.wait_for_url(servers["token"] + "/")
    url = f"{servers['token']}/api/workflows/browser.flow/runs"
    api = page.request  # sends the signed-in tab's cookie
    assert api.post(url, data={"params": {}}).status == 403  # the cookie, no CSRF token
    assert api.post(url, data={"params": {}}, headers={"Authorization": "Bearer no"}).status == 401
    assert api.get(f"{servers['token']}/api/runs").status == 200  # reading needs the cookie
    page.click("#logout")
    page.wait_for_url("**/login**")
    page.goto(servers["token"] + "/")
    assert "/login" in page.url  # signed out
    context.close()
