"""Run library work in a worker thread and draw its progress events from the script thread.

Streamlit elements may only be written from the script's own thread, while the connection-test engine and
bulk re-tests report progress from whichever thread did the work.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
E = TypeVar("E")


class _Done:
    """What the worker puts on the queue after the work's last event."""


class WorkerTimeout(TimeoutError):
    """The work reported nothing for too long; it keeps running in the background."""


def run_with_events(
    work: Callable[[Callable[[E], None]], T],
    on_event: Callable[[E], None],
    *,
    idle_timeout_s: float,
    name: str = "nbsupport-worker",
) -> T:
    """Call `work(report)` in a worker thread; every `report(event)` reaches `on_event` here, in order.
    Returns work's result or raises its exception in this thread."""
    events: queue.Queue[E | _Done] = queue.Queue()
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(work(events.put))
        except BaseException as exc:
            errors.append(exc)
        finally:
            events.put(_Done())

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    while True:
        try:
            event = events.get(timeout=idle_timeout_s)
        except queue.Empty:
            raise WorkerTimeout(f"no progress for {idle_timeout_s:.0f} s") from None
        if isinstance(event, _Done):
            break
        on_event(event)
    worker.join()
    if errors:
        raise errors[0]
    return results[0]
