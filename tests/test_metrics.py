"""`GET /metrics` on a running server: requests, turns, deliveries and the outbox backlog, in
Prometheus' text format (parsed back with its own parser)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from assistant.messages import Reply, Text
from tests.slack_fixtures import AMIRA, Spoke


async def _scrape(spoke: Spoke) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await spoke.http.get(f"{spoke.base}/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_requests_turns_and_deliveries_are_counted(spoke: Spoke) -> None:
    await spoke.dm("help", user=AMIRA)
    await spoke.settle()
    await (await spoke.http.get(f"{spoke.base}/files/not-a-token/x.ics")).read()
    samples = await _scrape(spoke)
    assert samples[("spoke_http_requests_total",
                    (("route", "/slack/events"), ("status", "200")))] >= 1
    assert samples[("spoke_http_requests_total",
                    (("route", "/files/{token}/{name}"), ("status", "404")))] == 1
    assert not any("not-a-token" in str(labels) for _, labels in samples)  # patterns, not paths
    assert samples[("spoke_turn_seconds_count", (("outcome", "ok"),))] >= 1
    assert samples[("spoke_outbox_deliveries_total", (("result", "sent"),))] >= 1
    assert samples[("spoke_outbox_pending", ())] == 0


async def test_the_backlog_shows_what_waits_and_for_how_long(spoke: Spoke) -> None:
    with spoke.store.transaction() as uow:
        # For the terminal: this server never takes it, so it waits for the whole test.
        uow.outbox.add("console:nobody", {"user": "nobody"}, Reply((Text("later"),)),
                       "metrics:1", spoke.clock.now())
    spoke.clock.advance(seconds=90)
    samples = await _scrape(spoke)
    assert samples[("spoke_outbox_pending", ())] == 1
    assert samples[("spoke_outbox_oldest_due_seconds", ())] >= 90
