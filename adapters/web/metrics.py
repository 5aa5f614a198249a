"""`GET /metrics` in Prometheus' text format: requests by route and status, turn latency,
deliveries by result, and the outbox's backlog (read from the database at each scrape, so
every replica reports the same shared queue). One registry per server: nothing global."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from assistant.clock import Clock
from assistant.ports import Store

# Turns run in milliseconds; an answer slower than a few seconds is already a failure for
# Slack's 3-second acknowledgement.
TURN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("spoke_http_requests", "HTTP requests answered",
                                ("route", "status"), registry=self.registry)
        self.request_seconds = Histogram("spoke_http_request_seconds", "Time to answer a request",
                                         ("route",), registry=self.registry, buckets=TURN_BUCKETS)
        self.turn_seconds = Histogram("spoke_turn_seconds", "Time a turn takes, by outcome",
                                      ("outcome",), registry=self.registry, buckets=TURN_BUCKETS)
        self.deliveries = Counter("spoke_outbox_deliveries", "Messages tried, by result",
                                  ("result",), registry=self.registry)
        self.registry.register(_Backlog(store, clock))

    def turn(self, outcome: str, seconds: float) -> None:
        self.turn_seconds.labels(outcome).observe(seconds)

    def delivery(self, result: str) -> None:
        self.deliveries.labels(result).inc()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # The route's pattern, never the path: a file link's token must not become a label.
        route = request.match_info.route.resource.canonical if (
            request.match_info.route.resource is not None) else "unmatched"
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as answered:
            status = answered.status
            raise
        finally:
            self.requests.labels(route, str(status)).inc()
            self.request_seconds.labels(route).observe(time.perf_counter() - started)

    async def page(self, _: web.Request) -> web.Response:
        import asyncio

        body = await asyncio.to_thread(generate_latest, self.registry)
        return web.Response(body=body, headers={
            "Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


class _Backlog(Collector):
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store, self._clock = store, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._store.transaction() as uow:
            pending, oldest = uow.outbox.backlog()
        yield GaugeMetricFamily("spoke_outbox_pending", "Messages waiting to be sent",
                                value=pending)
        yield GaugeMetricFamily("spoke_outbox_oldest_due_seconds",
                                "How long the longest-waiting due message has waited",
                                value=_age(oldest, self._clock.now()))

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


def _age(oldest: datetime | None, now: datetime) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
