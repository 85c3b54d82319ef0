"""``spine ui``: the web UI and JSON API, with a worker of its own for the runs they
start and resume."""

from __future__ import annotations

import signal
import threading
from contextlib import ExitStack

import click

from spine.cli.alerting import alert_options, runner_alerts, warn_if_no_channel
from spine.cli.context import database_url, open_runner
from spine.cli.errors import UsageProblem
from spine.cli.executing import chosen_executor, executor_options
from spine.cli.working import POLL_SECONDS, working

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8265, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--app",
    "apps",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE first (it registers workflows), as spine worker --app does.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    envvar="SPINE_ALLOWED_HOSTS",
    metavar="NAME",
    help="Another name the Host header may give (a proxy's, a DNS name); repeat it or "
    "give a comma-separated list (default: $SPINE_ALLOWED_HOSTS).",
)
@click.option(
    "--worker/--no-worker",
    default=True,
    show_default=True,
    help="Execute started and resumed runs here; --no-worker leaves them to spine worker.",
)
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Threads of the embedded worker.")  # fmt: skip
@click.option("--max-body", default=1 << 20, show_default=True, type=click.IntRange(1024),
              help="The largest request body taken, in bytes.")  # fmt: skip
@alert_options
@executor_options
@click.pass_context
def ui(
    ctx: click.Context,
    host: str,
    port: int,
    apps: tuple[str, ...],
    allowed_hosts: tuple[str, ...],
    worker: bool,
    concurrency: int,
    max_body: int,
    alert_on: tuple[str, ...] | None,
    alerts_file: str | None,
    ui_url: str | None,
    executor: str,
    dask_scheduler: str | None,
) -> None:
    """Serve the web UI and the JSON API (needs the [web] extra), and execute the runs
    they start and resume."""
    import os

    from spine.cli.loading import import_apps
    from spine.cli.render import plural

    if host not in LOOPBACK and not os.environ.get("SPINE_API_TOKEN"):
        raise UsageProblem(
            f"refusing to serve on {host}, reachable from other machines, without "
            "SPINE_API_TOKEN; set it, or bind 127.0.0.1"
        )
    alerting = runner_alerts(alert_on, alerts_file, ui_url)
    import_apps(apps)
    warn_if_no_channel(alert_on)
    try:
        import uvicorn

        from spine.web import create_app
    except ImportError as exc:
        raise UsageProblem(
            "the web UI needs the [web] extra: pip install 'spine-orchestration[web]'"
        ) from exc
    app = create_app(database_url(ctx), host=host, allowed_hosts=allowed_hosts,
                     max_body=max_body)  # fmt: skip
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    # uvicorn answers these itself and, once it has shut down, hands them on to the
    # handlers it found: these, so the worker's steps in flight finish too.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with ExitStack() as stack:
        if worker:
            chosen = stack.enter_context(chosen_executor(executor, dask_scheduler))
            runner = stack.enter_context(
                open_runner(ctx, block_on_waits=False, executor=chosen, **alerting)
            )
            stack.enter_context(working(runner, stop, concurrency, POLL_SECONDS))
        where = plural(concurrency, "worker thread") if worker else "no worker (--no-worker)"
        click.echo(f"spine UI on http://{host}:{port} (history: {database_url(ctx)}; {where})")
        uvicorn.run(app, host=host, port=port, log_level="warning")
