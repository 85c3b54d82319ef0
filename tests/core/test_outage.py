"""``Outage``: a failure that repeats is reported when it starts and when it ends."""

from __future__ import annotations

import threading

from spine.core.outage import Outage


def test_a_run_of_failures_is_one_line_and_its_end_another() -> None:
    lines: list[str] = []
    outage = Outage(lines.append)
    outage.worked()  # nothing failed: nothing to say
    for n in range(5):
        outage.failed(ConnectionError(f"refused {n}"))
    outage.worked()
    outage.worked()

    assert len(lines) == 2
    assert lines[0].startswith("ConnectionError: refused 0; trying on")
    assert lines[1].startswith("working again after ")
    assert lines[1].endswith(" and 5 failures")


def test_each_outage_is_reported_anew() -> None:
    lines: list[str] = []
    outage = Outage(lines.append)
    for round_ in ("first", "second"):
        outage.failed(OSError(round_))
        outage.worked()
    assert [line.split(";")[0] for line in lines[::2]] == ["OSError: first", "OSError: second"]
    assert len(lines) == 4


def test_threads_failing_at_once_report_once() -> None:
    lines: list[str] = []
    outage = Outage(lines.append)
    start = threading.Barrier(8)

    def fail() -> None:
        start.wait()
        for _ in range(50):
            outage.failed(TimeoutError("no answer"))

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outage.worked()

    assert len(lines) == 2
    assert lines[1].endswith(" and 400 failures")
