"""The facilitators' chart: attendance per session as bars, evaluation averages as points on
a second axis. Pure: values and translated labels in, PNG bytes out; no names ever reach it.

matplotlib is imported inside the function, not at the top: it takes most of a second to
load, and only a report needs it. The figure is drawn on the Agg canvas directly, never
through pyplot, whose global figure registry is shared state (and wants a display).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ChartPoint:
    """One session. `attended` None: no attendance was recorded (not zero). Averages None:
    too few answers to show."""

    label: str
    registered: int
    attended: int | None
    satisfaction: float | None
    relevance: float | None


@dataclass(frozen=True)
class ChartLabels:
    """Every word on the chart, already translated."""

    title: str
    registered: str
    attended: str
    satisfaction: str
    relevance: str
    people_axis: str
    score_axis: str
    not_recorded: str


def attendance_chart(points: Sequence[ChartPoint], labels: ChartLabels) -> bytes:
    """A PNG of up to a dozen sessions, oldest on the left."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    people = figure.add_subplot()
    places = list(range(len(points)))
    people.bar(places, [p.registered for p in points], width=0.7, color="#dbe4ee",
               edgecolor="#8aa1b8", label=labels.registered)
    people.bar(places, [p.attended or 0 for p in points], width=0.45, color="#2f6f9f",
               label=labels.attended)
    tallest = max((p.registered for p in points), default=0)
    for place, point in zip(places, points, strict=True):
        if point.attended is None:  # a missing roll call is not an empty room: say so
            people.text(place, tallest * 0.03, labels.not_recorded, ha="center", va="bottom",
                        fontsize=8, rotation=90, color="#333333")
    people.set_ylim(0, max(tallest * 1.35, 1))
    people.set_ylabel(labels.people_axis)
    people.set_xticks(places, [p.label for p in points], rotation=30, ha="right", fontsize=8)
    people.yaxis.set_major_locator(MaxNLocator(integer=True))  # no half a person

    scores = people.twinx()
    for name, values, colour, marker in (
            (labels.satisfaction, [p.satisfaction for p in points], "#d1495b", "o"),
            (labels.relevance, [p.relevance for p in points], "#edae49", "s")):
        # A NaN leaves a gap: a session with too few answers draws no point.
        scores.plot(places, [math.nan if v is None else v for v in values], color=colour,
                    marker=marker, linewidth=1.5, label=name)
    scores.set_ylim(0, 5.5)
    scores.set_yticks([1, 2, 3, 4, 5])
    scores.set_ylabel(labels.score_axis)

    handles = [*people.get_legend_handles_labels()[0], *scores.get_legend_handles_labels()[0]]
    names = [*people.get_legend_handles_labels()[1], *scores.get_legend_handles_labels()[1]]
    people.legend(handles, names, loc="upper left", fontsize=8, ncols=2, frameon=False)
    people.set_title(labels.title)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


@dataclass(frozen=True)
class PollChartLabels:
    """Every word on a poll's chart, already translated (options are the members' own)."""

    title: str
    votes_axis: str


def poll_chart(options: Sequence[str], counts: Sequence[int], labels: PollChartLabels) -> bytes:
    """A PNG of a poll's votes: one horizontal bar per option, the first at the top (options
    are whole sentences, which read better along the bars than under them)."""
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(8, 1.4 + 0.7 * len(options)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    places = list(range(len(options)))
    axes.barh(places, list(counts), height=0.6, color="#2f6f9f")
    for place, count in zip(places, counts, strict=True):
        axes.text(count, place, f" {count}", va="center", fontsize=9, color="#333333")
    axes.set_yticks(places, [textwrap.fill(option, 38) for option in options], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, max(max(counts, default=0) * 1.2, 1))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # no half a vote
    axes.set_xlabel(labels.votes_axis)
    axes.set_title(textwrap.fill(labels.title, 70))

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
