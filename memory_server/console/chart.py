"""A sentiment-over-time chart drawn on the server as SVG: no script, nothing to load."""

from __future__ import annotations

from dataclasses import dataclass

from memory_server.models import TimelineEntry

WIDTH, HEIGHT, PAD = 600, 160, 8


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: str  # the polyline's "x,y x,y ..."
    dots: list[tuple[float, float, float]]  # x, y, sentiment
    zero_y: float


def sentiment_chart(entries: list[TimelineEntry]) -> Chart | None:
    """Sentiment (-1..1) of messages oldest to newest, or None with fewer than two to draw a line through."""
    ordered = sorted(entries, key=lambda e: (e.timestamp, e.message_id))
    if len(ordered) < 2:
        return None
    step = (WIDTH - 2 * PAD) / (len(ordered) - 1)

    def y(value: float) -> float:
        return round(PAD + (1 - value) / 2 * (HEIGHT - 2 * PAD), 1)

    dots = [(round(PAD + i * step, 1), y(e.sentiment), e.sentiment) for i, e in enumerate(ordered)]
    return Chart(WIDTH, HEIGHT, " ".join(f"{x},{yy}" for x, yy, _ in dots), dots, y(0.0))
