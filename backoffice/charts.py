"""Bar charts drawn by the server as plain HTML/CSS: no JavaScript library,
nothing fetched from a CDN, readable without JavaScript and in a screenshot."""

from __future__ import annotations

from dataclasses import dataclass

# Distinguishable colours for series without a colour of their own (CRMs).
PALETTE = ["#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#e53935", "#6d4c41"]
GREY = "#9e9e9e"


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str


@dataclass(frozen=True)
class Segment:
    series: Series
    value: int
    percent: float  # share of the column's height


@dataclass(frozen=True)
class Column:
    label: str
    total: int
    percent: float  # height, relative to the tallest column
    segments: list[Segment]


def stacked_columns(
    columns: list[tuple[str, dict[str, int]]], series: list[Series]
) -> list[Column]:
    """One column per (label, {series key: value}); segments in `series` order."""
    tallest = max((sum(values.values()) for _, values in columns), default=0) or 1
    result = []
    for label, values in columns:
        total = sum(values.values())
        segments = [
            Segment(s, values[s.key], values[s.key] / total * 100)
            for s in series
            if values.get(s.key)
        ]
        result.append(Column(label, total, total / tallest * 100, segments))
    return result


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    percent: float  # length, relative to the longest bar


def ranked_bars(values: dict[str, int], *, limit: int | None = None) -> list[Bar]:
    """Horizontal bars, largest first (ties by label, so the order is stable)."""
    ranked = sorted(values.items(), key=lambda item: (-item[1], item[0]))[:limit]
    longest = max((value for _, value in ranked), default=0) or 1
    return [Bar(label, value, value / longest * 100) for label, value in ranked]
