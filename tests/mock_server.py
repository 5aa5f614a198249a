"""What the local platform mocks (tests/slack_mock.py, tests/teams_mock.py) share: serving an
aiohttp app on a free port, serving from an event loop of its own in a thread, waiting for the
calls a mock records, and scripted failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from aiohttp import web

T = TypeVar("T")


class AppServer:
    """One aiohttp app served on host:port (port 0: a free one); `base` is its URL once started."""

    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def start(self, app: web.Application, host: str, port: int,
                    ssl_context: ssl.SSLContext | None = None) -> None:
        # A delayed answer still takes effect when its client gives up, as on the real services.
        self.runner = web.AppRunner(app, handler_cancellation=False, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, host, port, ssl_context=ssl_context).start()
        bound_host, bound_port = self.runner.addresses[0][:2]
        self.base = f"{'https' if ssl_context is not None else 'http'}://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


class CallWaiters:
    """Those waiting for a call the mock records: coroutines on any event loop and threads.

    The mock records under `lock` and then calls `notify`; `wait` and `wait_blocking` retry
    `take` (under the lock) until it gives something or time runs out."""

    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock
        self.changed = threading.Condition(lock)
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def wait(self, take: Callable[[], T | None], seconds: float, what: str,
                   summary: Callable[[], list[str]]) -> T:
        # The waiter may run on another loop than the server (a mock served from a thread), so
        # the server wakes it with call_soon_threadsafe rather than an asyncio primitive of its own.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        waiter = (loop, asyncio.Event())
        with self.lock:
            self._waiting.append(waiter)
        try:
            while True:
                with self.lock:
                    found = take()
                    if found is not None:
                        return found
                    waiter[1].clear()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"no {what} within {seconds}s; calls: {summary()}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter[1].wait(), remaining)
        finally:
            with self.lock:
                self._waiting.remove(waiter)

    def wait_blocking(self, take: Callable[[], T | None], seconds: float, what: str,
                      summary: Callable[[], list[str]]) -> T:
        """`wait` for synchronous code, in another thread than the server's."""
        with self.changed:
            found = self.changed.wait_for(take, seconds)
        if found is None:
            raise TimeoutError(f"no {what} within {seconds}s; calls: {summary()}")
        return found

    def notify(self) -> None:
        """Wakes every waiter; the caller holds the lock, having recorded."""
        self.changed.notify_all()
        for loop, event in self._waiting:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)


class Scripted(Protocol):
    remaining: int | None          # None: until cleared


F = TypeVar("F", bound=Scripted)


def take_failure(queues: dict[str, list[F]], kind: str) -> F | None:
    """The scripted failure for the next request of `kind`, if any, counting it down. The caller
    holds the mock's lock."""
    queue = queues.get(kind, [])
    if not queue:
        return None
    failure = queue[0]
    if failure.remaining is not None:
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
    return failure


class LoopThread:
    """Serves from an event loop of its own in a daemon thread, for blocking clients (which would
    block a loop serving them) and for apps in another process. Subclasses start it with
    `_start_thread`; `stop` (or leaving the `with` block) ends it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _start_thread(self, setup: Callable[[], Awaitable[None]], teardown: Callable[[], Awaitable[None]],
                      *, name: str, what: str, timeout: float) -> None:
        """Runs `setup` on the new loop and returns once it has (raising what it raised); the loop
        then serves until `stop`, and runs `teardown` last."""
        ready = threading.Event()
        failed: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(setup())
            except BaseException as error:
                failed.append(error)
                loop.run_until_complete(teardown())
                loop.close()
                ready.set()
                return
            self._loop = loop
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(teardown())
                loop.close()

        self._thread = threading.Thread(target=serve, name=name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{what} did not start")
        if failed:
            raise failed[0]

    def stop(self, timeout: float = 10) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._loop = self._thread = None

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
