"""Run ids: UUID version 7, unique across threads and forked processes."""

from __future__ import annotations

import os
import threading
import uuid

from spine.core.ids import new_id


def test_an_id_is_a_version_7_uuid_that_sorts_by_time() -> None:
    first = new_id()
    parsed = uuid.UUID(first)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert str(parsed) == first
    later = [new_id() for _ in range(1000)]
    assert all(a[:13] <= b[:13] for a, b in zip([first, *later], later, strict=False))


def test_ids_made_on_many_threads_never_repeat() -> None:
    made: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(new_id() for _ in range(5000))  # many batches of random bytes each

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for into in made for i in into]
    assert len(set(every)) == len(every) == 20000


def test_a_forked_child_does_not_make_its_parents_next_ids() -> None:
    new_id()  # this thread now holds random bytes a child would inherit
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, " ".join(new_id()[14:] for _ in range(20)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {new_id()[14:] for _ in range(20)}  # (past the time: the random bits)
    assert len(child) == 20
    assert not child & parent
