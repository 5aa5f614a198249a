"""The facilitators' report: attendance and evaluation per held session of a network, as
words (for platforms that show no images), a chart and a CSV of the same aggregates.

Nothing in it names a person: attendance is counted, evaluations are averaged (and hidden
below `MIN_RESPONSES` answers), comments are unattributed and sorted.

A button names a network by its number (`act:report:N`), checked against the reader's team.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from assistant.charts import ChartLabels, ChartPoint, attendance_chart
from assistant.i18n import Translator
from assistant.messages import File, Option, Part, Question, Text
from assistant.model import Series, Session
from assistant.ports import UnitOfWork
from assistant.services.context import Refused, ServiceContext
from assistant.services.evaluation import (
    MIN_RESPONSES,
    EvaluationSummary,
    evaluation_summary,
    session_title,
)
from assistant.services.invitations import invitation_counts
from assistant.services.sessions import team_networks

REPORT_SESSIONS = 12
CSV_COLUMNS = ("Network", "Series", "Session Date", "Session Title", "Registered", "Attended",
               "Responses", "Satisfaction", "Relevance", "Confidence", "Would Recommend Yes %",
               "Would Recommend No %", "Would Recommend Not Sure %")
NOT_RECORDED = "not recorded"
# Babel's names for the two languages (as assistant/i18n.py formats dates with).
_LOCALES = {"en": "en_GB", "fr": "fr_CA"}


@dataclass(frozen=True)
class SessionFigures:
    session: Session
    series: Series
    registered: int
    attended: int | None  # None: no attendance recorded at all
    evaluation: EvaluationSummary


def network_number(uow: UnitOfWork, slug: str) -> int | None:
    """The number a network goes by in buttons."""
    return next((n.id for n in uow.networks.all() if n.slug == slug), None)


def team_report(ctx: ServiceContext, network_id: int | None) -> list[Part] | Refused:
    """The `report` command (no number), or its network buttons (`act:report:N`)."""
    teams = sorted(team_networks(ctx))
    if network_id is None:
        if not teams:
            return Refused("reports.team_only")
        numbered = {slug: network_number(ctx.uow, slug) for slug in teams}
        if len(teams) > 1:
            return [_which_network(ctx, {n: slug for slug, n in numbered.items() if n is not None})]
        slug = teams[0]
    else:
        named = next((n.slug for n in ctx.uow.networks.all() if n.id == network_id), None)
        if named is None or named not in teams:
            ctx.uow.audit.record(ctx.now, ctx.actor.identity, "action.refused",
                                 f"network:{network_id}",
                                 {"reason": "reports.not_allowed", "action": "report"})
            return Refused("reports.not_allowed")
        slug = named
    figures = held_sessions(ctx.uow, slug, ctx.now)
    name = _network_name(ctx.uow, slug)
    if not figures:
        return [Text(ctx.t("reports.no_sessions", network=name))]
    ctx.uow.audit.record(ctx.now, ctx.actor.identity, "report.viewed", f"network:{slug}",
                         {"sessions": len(figures)})
    stamp = ctx.now.astimezone(ZoneInfo(ctx.time_zone)).date().isoformat()
    invited = invitation_counts(ctx.uow, slug)
    spread = [Text(ctx.t("reports.invitations", places=", ".join(
        f"{title}: {count}" for title, count in sorted(invited.items()))))] if invited else []
    return [
        Text(summary_text(figures, name, ctx.t, ctx.time_zone)), *spread,
        File(f"report-{slug}-{stamp}.png", "image/png",
             attendance_chart([_point(f, ctx.t, ctx.time_zone) for f in figures],
                              _chart_labels(ctx.t, name)),
             caption=ctx.t("reports.chart.caption")),
        File(f"report-{slug}-{stamp}.csv", "text/csv",
             report_csv(figures, name, ctx.time_zone), caption=ctx.t("reports.csv.caption")),
    ]


def _which_network(ctx: ServiceContext, numbers: dict[int, str]) -> Question:
    names = {slug: _network_name(ctx.uow, slug) for slug in numbers.values()}
    options = sorted(((names[slug], number) for number, slug in numbers.items()),
                     key=lambda pair: pair[0].casefold())
    return Question(ctx.t("reports.which_network"),
                    tuple(Option(name, f"act:report:{number}") for name, number in options))


def _network_name(uow: UnitOfWork, slug: str) -> str:
    return next((n.name for n in uow.networks.all() if n.slug == slug), slug)


# --- the figures ------------------------------------------------------------------------------


def held_sessions(uow: UnitOfWork, network: str, now: datetime,
                  limit: int = REPORT_SESSIONS) -> list[SessionFigures]:
    """The network's last `limit` sessions that have ended and were not cancelled, oldest
    first, with their counts."""
    series = {s.id: s for s in uow.schedule.series_of([network])}
    held = sorted((session for series_id in series for session in uow.schedule.sessions_of(series_id)
                   if session.state != "cancelled" and session.ends_at <= now),
                  key=lambda s: s.starts_at)[-limit:]
    rules = uow.networks.attendance_rules(network)
    summaries = evaluation_summary(uow, [s.id for s in held])
    figures = []
    for session in held:
        records = uow.attendance.of_session(session.id)
        minutes = int((session.ends_at - session.starts_at).total_seconds() // 60)
        attended = (sum(rules.attended(r, minutes) for r in records.values()) if records
                    else None)
        figures.append(SessionFigures(session, series[session.series_id],
                                      _expected(uow, session), attended, summaries[session.id]))
    return figures


def _expected(uow: UnitOfWork, session: Session) -> int:
    """Registered for the series (as it stands now) or said they were going (a one-session
    guest)."""
    going = {p for p, answer in uow.rsvps.answers(session.id).items() if answer == "going"}
    return len(set(uow.enrolments.registered(session.series_id)) | going)


# --- words --------------------------------------------------------------------------------------


def summary_text(figures: Sequence[SessionFigures], network: str, t: Translator, zone: str) -> str:
    """The whole report in plain lines, for every platform."""
    title = "reports.title.one" if len(figures) == 1 else "reports.title.many"
    lines = [t(title, network=network, count=len(figures), zone=t.zone_name(zone))]
    for f in figures:
        lines += ["", t("reports.line.session", date=t.datetime(f.session.starts_at, zone, "date"),
                        title=session_title(f.session, f.series))]
        if f.attended is None:
            lines.append(t("reports.line.not_recorded", registered=f.registered))
        else:
            lines.append(t("reports.line.attendance", attended=f.attended,
                           registered=f.registered))
        lines += _evaluation_lines(f.evaluation, t)
    return "\n".join(lines)


def _evaluation_lines(summary: EvaluationSummary, t: Translator) -> list[str]:
    if not summary.enough:
        return [t("reports.line.few", count=summary.responses, min=MIN_RESPONSES)]
    lines = [t("reports.line.scores", count=summary.responses,
               satisfaction=_score(summary.satisfaction, t),
               relevance=_score(summary.relevance, t),
               confidence=_score(summary.confidence, t),
               yes=_percent(summary.recommend.get("yes", 0.0)))]
    if summary.comments:
        lines.append(t("reports.line.comments"))
        lines += [t("reports.line.comment", comment=comment) for comment in summary.comments]
    return lines


def _score(value: float | None, t: Translator) -> str:
    from babel.numbers import format_decimal

    return "" if value is None else str(format_decimal(round(value, 1), format="0.0",
                                                       locale=_LOCALES[t.language]))


def _percent(share: float) -> int:
    return round(share * 100)


# --- the chart and the spreadsheet --------------------------------------------------------------


def _point(f: SessionFigures, t: Translator, zone: str) -> ChartPoint:
    from babel.dates import format_skeleton

    local = f.session.starts_at.astimezone(ZoneInfo(zone))
    label = str(format_skeleton("MMMd", local, locale=_LOCALES[t.language]))
    return ChartPoint(label, f.registered, f.attended,
                      f.evaluation.satisfaction, f.evaluation.relevance)


def _chart_labels(t: Translator, network: str) -> ChartLabels:
    return ChartLabels(title=t("reports.chart.title", network=network),
                       registered=t("reports.chart.registered"),
                       attended=t("reports.chart.attended"),
                       satisfaction=t("reports.chart.satisfaction"),
                       relevance=t("reports.chart.relevance"),
                       people_axis=t("reports.chart.people"),
                       score_axis=t("reports.chart.score"),
                       not_recorded=t("reports.chart.not_recorded"))


def report_csv(figures: Sequence[SessionFigures], network: str, zone: str) -> bytes:
    """One row per session, aggregates only. Column names in English like the admin exports;
    UTF-8 with a byte-order mark, so Excel shows accents right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for f in figures:
        e = f.evaluation
        writer.writerow([
            _cell(network), _cell(f.series.title),
            f.session.starts_at.astimezone(ZoneInfo(zone)).date().isoformat(),
            _cell(f.session.topic), f.registered, NOT_RECORDED if f.attended is None else f.attended,
            e.responses, _average(e.satisfaction), _average(e.relevance), _average(e.confidence),
            *(_share(e, choice) for choice in ("yes", "no", "not_sure"))])
    return buffer.getvalue().encode("utf-8-sig")


def _average(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _share(summary: EvaluationSummary, choice: str) -> str:
    return str(_percent(summary.recommend[choice])) if summary.enough else ""


def _cell(text: str) -> str:
    """A title typed in chat, kept from being read as a formula by a spreadsheet."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
