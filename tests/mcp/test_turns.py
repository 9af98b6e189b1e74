"""One embedding pass at a time, and a waiting query goes before the re-index's next batch."""

from __future__ import annotations

import threading
import time

from capibara6.mcp.embedding import Turns


def test_a_waiting_query_goes_before_the_next_batch():
    turns, order = Turns(), []
    first_batch_running, finish_first_batch = threading.Event(), threading.Event()

    def batch(name, hold=None):
        with turns.batch():
            order.append(name)
            if hold:
                first_batch_running.set()
                hold.wait(10)

    def query():
        with turns.query():
            order.append("query")

    threads = [threading.Thread(target=batch, args=("batch 1", finish_first_batch))]
    threads[0].start()
    assert first_batch_running.wait(10)
    threads.append(threading.Thread(target=batch, args=("batch 2",)))
    threads.append(threading.Thread(target=query))
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    while turns._queries_waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    finish_first_batch.set()
    for thread in threads:
        thread.join(10)
    assert order == ["batch 1", "query", "batch 2"]


def test_a_build_runs_as_many_batches_at_once_as_it_has_passes_and_a_query_takes_the_next_free_one():
    turns, events = Turns(passes=2), []
    running, finish = threading.Barrier(3, timeout=10), threading.Event()

    def batch(name):
        with turns.batch():
            events.append(f"{name} started")
            running.wait()   # both batches are in their turn together, or this times out
            finish.wait(10)
            events.append(f"{name} ended")

    def query():
        with turns.query():
            events.append("query")

    batches = [threading.Thread(target=batch, args=(f"batch {n}",)) for n in (1, 2)]
    for thread in batches:
        thread.start()
    running.wait()
    asking = threading.Thread(target=query)
    asking.start()
    deadline = time.monotonic() + 10
    while turns._queries_waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert "query" not in events   # both passes are taken
    finish.set()
    for thread in [*batches, asking]:
        thread.join(10)
    assert events.index("query") > min(events.index("batch 1 ended"), events.index("batch 2 ended"))
