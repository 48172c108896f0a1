"""Server-rendered SVG charts: no JavaScript, no external assets.

Every text that reaches the SVG goes through ``markupsafe.escape``; numbers are
formatted by us.  Each data point carries ``data-date`` / ``data-value`` attributes
(tests count and read them) and a native ``<title>`` tooltip.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

Number = int | float | Decimal
Point = tuple[date, Number | None]

WIDTH, HEIGHT = 520, 190
PAD_L, PAD_R, PAD_T, PAD_B = 52, 14, 14, 30


def _axis(max_value: float, integral: bool, max_steps: int = 5) -> tuple[float, int]:
    """A round axis top and its number of grid steps: steps of 1, 2, 2.5 or 5 x 10^n.

    Counts never get fractional steps (no "1.5 units" tick).
    """
    if max_value <= 0:
        return float(max_steps if integral else 1), max_steps if integral else 4
    exp = math.floor(math.log10(max_value / max_steps))
    while True:
        for m in (1, 2, 2.5, 5):
            step = m * 10 ** exp
            if integral and (step < 1 or step != int(step)):
                continue
            n = max(math.ceil(max_value / step - 1e-9), 2)
            if n <= max_steps:
                return step * n, n
        exp += 1


def _fmt_tick(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def chart(points: Sequence[Point], *, title: str, kind: str = "line", color: str = "#2563eb",
          fmt: Callable[[Number], str] = lambda v: f"{v:,}", chart_id: str = "chart",
          empty_label: str = "not reported") -> Markup:
    """A line or bar chart of one daily series; ``None`` values are drawn as gaps."""
    if kind not in ("line", "bar"):
        raise ValueError(f"unknown chart kind {kind!r}")
    values = [float(v) for _, v in points if v is not None]
    integral = all(isinstance(v, int) for _, v in points if v is not None)
    lo = 0.0                          # every series here is >= 0 (prices, counts)
    hi, steps = _axis(max(values, default=0.0), integral)
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    n = len(points)
    step = plot_w / max(n, 1)

    def x(i: int) -> float:
        return PAD_L + step * (i + 0.5)

    def y(v: float) -> float:
        return PAD_T + plot_h * (1 - (v - lo) / (hi - lo))

    out: list[str] = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    # grid and y labels
    for k in range(steps + 1):
        v = lo + (hi - lo) * k / steps
        yy = y(v)
        out.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{yy:.1f}" y2="{yy:.1f}" '
                   f'stroke="#e5e7eb" stroke-width="1"/>')
        out.append(f'<text x="{PAD_L - 8}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" '
                   f'fill="#6b7280">{escape(_fmt_tick(v))}</text>')
    # x labels: all when few, else first / middle / last
    label_idx = set(range(n)) if n <= 10 else {0, n // 2, n - 1}
    for i in sorted(label_idx):
        d = points[i][0]
        out.append(f'<text x="{x(i):.1f}" y="{HEIGHT - 10}" text-anchor="middle" font-size="11" '
                   f'fill="#6b7280">{escape(d.strftime("%b %d"))}</text>')

    if kind == "bar":
        bw = max(2.0, min(28.0, step * 0.6))
        for i, (d, v) in enumerate(points):
            label = f"{d.isoformat()}: {fmt(v) if v is not None else empty_label}"
            if v is None:
                out.append(
                    f'<rect class="pt pending" data-date="{d.isoformat()}" data-value="" '
                    f'x="{x(i) - bw / 2:.1f}" y="{y(lo) - 3:.1f}" width="{bw:.1f}" height="3" '
                    f'fill="#d1d5db"><title>{escape(label)}</title></rect>')
                continue
            top, base = y(max(float(v), 0.0)), y(0.0)
            out.append(
                f'<rect class="pt" data-date="{d.isoformat()}" data-value="{escape(str(v))}" '
                f'x="{x(i) - bw / 2:.1f}" y="{min(top, base):.1f}" width="{bw:.1f}" '
                f'height="{max(abs(base - top), 1):.1f}" rx="2" fill="{escape(color)}">'
                f"<title>{escape(label)}</title></rect>")
    else:
        # one polyline per run of consecutive known values, so a gap stays visible
        run: list[str] = []
        for i, (_, v) in enumerate([*points, (date.min, None)]):
            if v is None:
                if len(run) > 1:
                    out.append(f'<polyline fill="none" stroke="{escape(color)}" stroke-width="2" '
                               f'stroke-linejoin="round" points="{" ".join(run)}"/>')
                run = []
            else:
                run.append(f"{x(i):.1f},{y(float(v)):.1f}")
        for i, (d, v) in enumerate(points):
            if v is None:
                continue
            label = f"{d.isoformat()}: {fmt(v)}"
            out.append(
                f'<circle class="pt" data-date="{d.isoformat()}" data-value="{escape(str(v))}" '
                f'cx="{x(i):.1f}" cy="{y(float(v)):.1f}" r="3.5" fill="#fff" stroke="{escape(color)}" '
                f'stroke-width="2"><title>{escape(label)}</title></circle>')
    if not values:
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="13" '
                   f'fill="#9ca3af">No data yet</text>')
    out.append("</svg>")
    return Markup("".join(out))
