"""A result's trend over the last runs as a small inline SVG (no external assets).

One square per run coloured like the status badges, and a sparkline of the check's first
numeric trend value when it has one. `<title>` and `aria-label` say the same in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from auditor.model import TrendPoint

SQUARE = 9
GAP = 3
SPARK_HEIGHT = 22


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def svg(points: Sequence[TrendPoint] | None, value_name: str = "") -> Markup:
    if not points:
        return Markup("")
    step = SQUARE + GAP
    width = len(points) * step
    # A value that is not a finite number (a check's ratio of nothing) is drawn as no value
    values = [p.value if p.value is not None and math.isfinite(p.value) else None for p in points]
    numbers = [v for v in values if v is not None]
    spark = len(numbers) >= 2
    height = SQUARE + (SPARK_HEIGHT + 4 if spark else 0)
    statuses = ", ".join(p.status.value for p in points)
    label = f"last {len(points)} run(s), oldest first: {statuses}"
    if numbers:
        shown = (_number(v) if v is not None else "–" for v in values)
        label += f"; {value_name or 'value'}: " + " → ".join(shown)
    parts = [f'<svg class="trend" role="img" aria-label="{escape(label)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>']
    for index, (point, value) in enumerate(zip(points, values, strict=True)):
        tip = f"{point.run_id} ({point.started}): {point.status.value}"
        if value is not None:
            tip += f", {value_name or 'value'} {_number(value)}"
        parts.append(f'<rect x="{index * step}" y="0" width="{SQUARE}" height="{SQUARE}" rx="2" '
                     f'style="fill:var(--{point.status.value})"><title>{escape(tip)}</title></rect>')
    if spark:
        low, high = min(numbers), max(numbers)
        span = (high - low) or 1.0
        coords = [f"{index * step + SQUARE / 2:.1f},"
                  f"{SQUARE + 4 + (SPARK_HEIGHT - 2) * (1 - (v - low) / span) + 1:.1f}"
                  for index, v in enumerate(values) if v is not None]
        parts.append(f'<polyline points="{" ".join(coords)}" fill="none" stroke="#57606a" '
                     'stroke-width="1.5"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above is escaped
