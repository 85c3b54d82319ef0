"""Closed to strangers: the Host check, the token (bearer or login session with its
CSRF token), cross-site refusals and the body limit (see spine.web.guard)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from spine.orchestration import Step, Workflow, register_workflow
from spine.web import create_app

LOCAL = "http://127.0.0.1"
TOKEN = "guard-token-0123456789"
START = "/api/workflows/guard.flow/runs"


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FastAPI]]:
    """One app with the token and one without, on one history, for the whole module
    (each test gets clients of its own: cookies are not shared between tests)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('guard') / 'h.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("SPINE_API_TOKEN", raising=False)
        made = {"guarded": create_app(url, token=TOKEN), "open": create_app(url)}
    with TestClient(made["guarded"]), TestClient(made["open"]):  # their lifespans
        yield made


@pytest.fixture(autouse=True)
def _registered() -> None:
    # (The shared conftest empties the registries around every test.)
    register_workflow(Workflow("guard.flow", [Step.lambda_("one", lambda c, k: {})]))


@pytest.fixture
def guarded(apps: dict[str, FastAPI]) -> TestClient:
    return TestClient(apps["guarded"], base_url=LOCAL, follow_redirects=False)


@pytest.fixture
def open_app(apps: dict[str, FastAPI]) -> TestClient:
    return TestClient(apps["open"], base_url=LOCAL)


def run_count(client: TestClient) -> int:
    return len(client.get("/api/runs", params={"limit": 1000}, headers=bearer()).json())


def bearer(token: str = TOKEN, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def sign_in(client: TestClient) -> str:
    """Sign in through the login form; the session's CSRF token."""
    answer = client.post("/login", data={"token": TOKEN, "next": "/"})
    assert answer.status_code == 303
    page = client.get("/")
    assert page.status_code == 200
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


# -- the token ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/runs/x", "/workflows/guard.flow", "/schedules",
                                  "/static/spine.js"])  # fmt: skip
def test_without_the_token_pages_send_to_the_login_page(guarded: TestClient, path: str) -> None:
    answer = guarded.get(path, params={"a": "b"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")
    assert "%3Fa%3Db" in answer.headers["location"]  # back to the page asked for


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/runs"), ("GET", "/api/runs/x"), ("GET", "/openapi.json"),
     ("GET", "/api/schedules"), ("POST", START), ("POST", "/api/runs/x/cancel"),
     ("POST", "/api/runs/x/resume"), ("POST", "/api/runs/x/fork"), ("POST", "/logout"),
     ("POST", "/api/runs/x/signals/approved"),
     ("POST", "/")],
)  # fmt: skip
@pytest.mark.parametrize("headers", [{}, bearer("wrong"), bearer(TOKEN, "Basic"),
                                     {"Authorization": TOKEN}, bearer("")])  # fmt: skip
def test_api_routes_refuse_a_missing_or_wrong_token(
    guarded: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    before = run_count(guarded)
    answer = guarded.request(method, path, headers=headers, json={})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert run_count(guarded) == before  # nothing was started


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(guarded: TestClient, scheme: str) -> None:
    assert guarded.get("/api/runs", headers=bearer(TOKEN, scheme)).status_code == 200
    assert guarded.post(START, json={}, headers=bearer(TOKEN, scheme)).status_code == 202


def test_a_wrong_bearer_token_is_refused_even_beside_a_good_session(guarded: TestClient) -> None:
    csrf = sign_in(guarded)
    answer = guarded.post(START, json={}, headers={**bearer("nope"), "X-CSRF-Token": csrf})
    assert answer.status_code == 401


def test_the_login_page_opens_a_session_whose_actions_need_its_csrf_token(
    guarded: TestClient,
) -> None:
    login_page = guarded.get("/login")
    assert login_page.status_code == 200
    assert "<script" not in login_page.text  # its script would be behind the login
    wrong = guarded.post("/login", data={"token": "nope"})
    assert wrong.status_code == 401
    assert "spine_session" not in wrong.headers.get("set-cookie", "")
    answer = guarded.post("/login", data={"token": TOKEN, "next": "/runs/abc"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/runs/abc")
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert TOKEN not in cookie  # a session id, never the token
    csrf = sign_in(guarded)
    assert guarded.get("/api/runs").status_code == 200  # reads: the cookie is enough
    assert guarded.post(START, json={}).status_code == 403  # no CSRF token
    assert guarded.post(START, json={}, headers={"X-CSRF-Token": "x" + csrf}).status_code == 403
    started = guarded.post(START, json={}, headers={"X-CSRF-Token": csrf})
    assert started.status_code == 202
    run = guarded.get(f"/api/runs/{started.json()['run_id']}").json()
    assert run["triggered_by"] == "ui"
    # Signing out ends the session on the server: the old cookie opens nothing.
    assert guarded.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 303
    assert guarded.get("/").status_code == 303
    assert guarded.get("/api/runs").status_code == 401


@pytest.mark.parametrize(
    "wanted", ["//evil.example/x", "https://evil.example", "/\\evil", "/\t/evil.example", ""]
)
def test_the_login_page_sends_no_one_to_another_site(guarded: TestClient, wanted: str) -> None:
    answer = guarded.post("/login", data={"token": TOKEN, "next": wanted})
    assert answer.headers["location"] == "/"
    assert 'value="/"' in guarded.get("/login", params={"next": wanted}).text


def test_without_a_token_pages_and_actions_are_open(open_app: TestClient) -> None:
    assert open_app.get("/").status_code == 200
    assert open_app.get("/openapi.json").status_code == 200
    assert open_app.post(START, json={}).status_code == 202
    assert open_app.get("/docs").status_code == 200  # Swagger UI, from this package


# -- the Host header --------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8265", "127.0.0.2", "localhost.evil.example",
             "127.0.0.1.nip.io", "", "[::1", "127.0.0.1:x", "[::1]x"],
)  # fmt: skip
def test_a_host_that_is_not_this_server_is_refused(
    guarded: TestClient, open_app: TestClient, host: str
) -> None:
    for client in (guarded, open_app):
        answer = client.get("/api/runs", headers={**bearer(), "Host": host})
        assert answer.status_code == 400
        assert "Host" in answer.json()["detail"]
    # Before the token is looked at: a wrong Host with no token is still a 400.
    assert guarded.post(START, json={}, headers={"Host": host}).status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8265", "localhost:1", "LOCALHOST",
                                  "[::1]:8265", "[::1]"])  # fmt: skip
def test_loopback_names_are_served_on_loopback(open_app: TestClient, host: str) -> None:
    assert open_app.get("/api/runs", headers={"Host": host}).status_code == 200


def test_the_bound_address_and_allowed_names_are_served(sqlite_url: str) -> None:
    app = create_app(sqlite_url, token=TOKEN, host="10.1.2.3",
                     allowed_hosts=["spine.example.com", "a.example, b.example"])  # fmt: skip
    with TestClient(app, base_url="http://10.1.2.3:8265", headers=bearer()) as client:
        for host in ["10.1.2.3:8265", "spine.example.com", "a.example", "b.example:443"]:
            assert client.get("/api/runs", headers={"Host": host}).status_code == 200
        for host in ["localhost", "127.0.0.1", "c.example"]:
            assert client.get("/api/runs", headers={"Host": host}).status_code == 400
    wildcard = create_app(sqlite_url, token=TOKEN, host="0.0.0.0", allowed_hosts=["ui.example"])
    with TestClient(wildcard, base_url="http://ui.example", headers=bearer()) as client:
        assert client.get("/api/runs").status_code == 200
        assert client.get("/api/runs", headers={"Host": "localhost"}).status_code == 200
        assert client.get("/api/runs", headers={"Host": "0.0.0.0"}).status_code == 400


# -- cross-site requests -------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Origin": "null"},
     {"Origin": "http://127.0.0.1:9999"}, {"Sec-Fetch-Site": "cross-site"},
     {"Sec-Fetch-Site": "same-site"},
     {"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"}],
)  # fmt: skip
def test_cross_site_browser_requests_cannot_act(
    guarded: TestClient, open_app: TestClient, headers: dict[str, str]
) -> None:
    before = run_count(guarded)
    assert guarded.post(START, json={}, headers={**bearer(), **headers}).status_code == 403
    assert open_app.post(START, json={}, headers=headers).status_code == 403
    assert open_app.post("/api/runs/x/cancel", headers=headers).status_code == 403
    assert run_count(guarded) == before
    # Reading is not acting: a cross-site GET is answered (no CORS: its page cannot read it).
    assert open_app.get("/api/runs", headers=headers).status_code == 200


def test_same_origin_requests_and_clients_without_those_headers_act(
    open_app: TestClient,
) -> None:
    for headers in ({}, {"Origin": LOCAL}, {"Sec-Fetch-Site": "same-origin", "Origin": LOCAL}):
        assert open_app.post(START, json={}, headers=headers).status_code == 202


# -- body size ----------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_before_it_is_read(sqlite_url: str) -> None:
    app = create_app(sqlite_url, token=TOKEN, max_body=4096)
    with TestClient(app, base_url=LOCAL, headers=bearer()) as client:
        big = b'{"params": {"x": "' + b"a" * 5000 + b'"}}'
        declared = client.post(START, content=big, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413

        def chunks() -> Iterator[bytes]:
            yield b'{"params": {"x": "'
            for _ in range(10):
                yield b"a" * 1000
            yield b'"}}'

        streamed = client.post(
            START, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        small = client.post(START, json={"params": {"x": "a" * 1000}})
        assert small.status_code == 202
        assert len(client.get("/api/runs").json()) == 1
        bad = client.post(START, content=b"{}", headers={"Content-Length": "x"})
        assert bad.status_code == 400


def test_the_token_is_checked_before_the_body(guarded: TestClient) -> None:
    huge = {"Content-Length": str(500 << 20), "Content-Type": "application/json"}
    assert guarded.post(START, content=b"{}", headers=huge).status_code == 401
    assert guarded.post(START, content=b"{}", headers={**huge, **bearer()}).status_code == 413


def test_the_login_form_takes_a_small_body_only(guarded: TestClient) -> None:
    answer = guarded.post("/login", data={"token": "a" * (20 << 10)})
    assert answer.status_code == 413


def test_every_answer_keeps_pages_out_of_other_sites_frames(
    guarded: TestClient, open_app: TestClient
) -> None:
    for answer in (guarded.get("/"), guarded.get("/api/runs"), open_app.get("/"),
                   open_app.get("/api/runs", headers={"Host": "evil"})):  # fmt: skip
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
