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
