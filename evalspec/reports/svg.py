"""Inline SVG charts for the HTML report, drawn in Python so the page needs no script library.

Every piece of text that reaches the SVG goes through `escape`; the result is `Markup` so the
autoescaping template embeds it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from .. import stats
from .model import Group, Report

PALETTE = ("#4f6bed", "#e8833a", "#2aa876", "#c2185b", "#8e6cc0", "#00838f", "#6d4c41",
           "#7cb342")


def model_colors(models: Sequence[str]) -> dict[str, str]:
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}


def rate_color(rate: float | None) -> str:
    """Red (0%) through amber to green (100%), light enough for dark text on top."""
    if rate is None:
        return "#eceff1"
    return f"hsl({rate * 120:.0f}, 62%, 84%)"


def _legend(models: Sequence[str], colors: Mapping[str, str], x: float, y: float) -> list[str]:
    out = []
    for m in models:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="11" height="11" rx="2" '
                   f'fill="{colors[m]}"/>')
        out.append(f'<text x="{x + 15:.1f}" y="{y:.1f}" class="lg">{escape(m)}</text>')
        x += 30 + 7.2 * len(m)
    return out


def pass_rate_chart(groups: Sequence[Group], overall: Mapping, models: Sequence[str],
                    colors: Mapping[str, str], title: str) -> Markup:
    """Grouped bars: pass rate per group and model, with bootstrap whiskers, plus "All"."""
    entries: list[tuple[str, Mapping]] = [(g.name, g.models) for g in groups]
    entries.append(("All", overall))
    bar_w, gap, pad_l, pad_t, plot_h = 18, 22, 40, 34, 170
    group_w = bar_w * len(models) + gap
    width = max(420, pad_l + group_w * len(entries) + 10)
    height = pad_t + plot_h + 46
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}">',
           f'<title>{escape(title)}</title>']
    out += _legend(models, colors, pad_l, 14)
    for pct in (0, 25, 50, 75, 100):
        y = pad_t + plot_h - plot_h * pct / 100
        out.append(f'<line x1="{pad_l}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'class="grid"/>')
        out.append(f'<text x="{pad_l - 6}" y="{y + 4:.1f}" class="ax" '
                   f'text-anchor="end">{pct}%</text>')
    for gi, (name, per_model) in enumerate(entries):
        gx = pad_l + gap / 2 + gi * group_w
        if name == "All":
            out.append(f'<rect x="{gx - gap / 2 + 2:.1f}" y="{pad_t - 4}" '
                       f'width="{group_w - 4:.1f}" height="{plot_h + 8}" class="allbg"/>')
        for mi, m in enumerate(models):
            st = per_model.get(m)
            x = gx + mi * bar_w
            if st is None or st.pass_rate.value is None:
                continue
            rate = st.pass_rate.value
            h = max(1.5, plot_h * rate)
            y = pad_t + plot_h - h
            tip = (f"{m} · {name}: {st.passed}/{st.decided} passed "
                   f"({stats.format_interval(st.pass_rate, percent=True)})")
            out.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bar_w - 2}" height="{h:.1f}" '
                       f'rx="2" fill="{colors[m]}"><title>{escape(tip)}</title></rect>')
            est = st.pass_rate
            if not est.degenerate and est.low is not None and est.high is not None:
                y1 = pad_t + plot_h * (1 - est.high)
                y2 = pad_t + plot_h * (1 - est.low)
                cx = x + bar_w / 2
                out.append(f'<path d="M{cx:.1f} {y1:.1f}V{y2:.1f}M{cx - 3:.1f} {y1:.1f}'
                           f'h6M{cx - 3:.1f} {y2:.1f}h6" class="whisker"/>')
        label = name if len(name) <= 12 else name[:11] + "…"
        cx = gx + bar_w * len(models) / 2
        css = "ax b" if name == "All" else "ax"
        out.append(f'<text x="{cx:.1f}" y="{pad_t + plot_h + 16}" class="{css}" '
                   f'text-anchor="middle">{escape(label)}<title>{escape(name)}</title></text>')
    out.append(f'<text x="{pad_l}" y="{height - 6}" class="note">bars: pass rate · '
               'whiskers: 95% bootstrap CI</text>')
    out.append("</svg>")
    return Markup("".join(out))


def score_chart(report: Report, colors: Mapping[str, str]) -> Markup | None:
    """A strip plot of judge scores: one row per rubric, a dot per verdict, a tick per mean."""
    rows: dict[str, dict[str, list[float]]] = {}
    scales: dict[str, tuple[float, float]] = {}
    for case in report.cases:
        for m, cells in case.cells.items():
            for cell in cells:
                for check in cell.judge_checks:
                    rubric = check.rubric or "judge"
                    rows.setdefault(rubric, {}).setdefault(m, []).append(float(check.score or 0))
                    rub = report.rubrics.get(rubric) or {}
                    lo = float(rub.get("scale_min", 1)) if rub else 1.0
                    hi = float(rub.get("scale_max", 5)) if rub else 5.0
                    if not rub and isinstance(check.evidence.get("scale"), Sequence):
                        lo, hi = (float(v) for v in check.evidence["scale"][:2])
                    scales[rubric] = (lo, hi)
    if not rows:
        return None
    models = list(report.models)
    label_w, plot_w, row_h, pad_t = 170, 360, 22 + 12 * len(models), 30
    width = label_w + plot_w + 30
    height = pad_t + row_h * len(rows) + 34
    title = "Judge scores per rubric and model"
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{title}"><title>{title}</title>']
    out += _legend(models, colors, label_w, 14)
    for ri, (rubric, per_model) in enumerate(sorted(rows.items())):
        lo, hi = scales[rubric]
        top = pad_t + ri * row_h
        out.append(f'<rect x="{label_w}" y="{top + 4}" width="{plot_w}" height="{row_h - 8}" '
                   f'class="lane"/>')
        short = rubric.rsplit(".", 1)[-1]
        out.append(f'<text x="{label_w - 8}" y="{top + row_h / 2 + 4:.1f}" class="ax" '
                   f'text-anchor="end">{escape(short)}<title>{escape(rubric)}</title></text>')
        span = hi - lo or 1.0
        ticks = range(int(lo), int(hi) + 1) if span <= 10 else (lo, (lo + hi) / 2, hi)
        for t in ticks:
            x = label_w + 10 + (plot_w - 20) * (float(t) - lo) / span
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + 4}" y2="{top + row_h - 4}" '
                       f'class="grid"/>')
            if ri == len(rows) - 1:
                out.append(f'<text x="{x:.1f}" y="{top + row_h + 10}" class="ax" '
                           f'text-anchor="middle">{t:g}</text>')
        for mi, m in enumerate(models):
            values = per_model.get(m) or []
            y = top + 13 + mi * 12
            counts: dict[float, int] = {}
            for v in values:
                k = counts.get(v, 0)
                counts[v] = k + 1
                x = label_w + 10 + (plot_w - 20) * (v - lo) / span + k * 4
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colors[m]}" '
                           f'fill-opacity="0.8"><title>{escape(f"{m}: {v:g}")}</title></circle>')
            if values:
                mean = sum(values) / len(values)
                x = label_w + 10 + (plot_w - 20) * (mean - lo) / span
                out.append(f'<path d="M{x:.1f} {y - 6:.1f}V{y + 6:.1f}" stroke="{colors[m]}" '
                           f'class="mean"><title>{escape(f"{m} mean {mean:.2f}")}</title></path>')
    out.append(f'<text x="{label_w}" y="{height - 4}" class="note">dots: one judge verdict each'
               ' · bars: mean per model</text></svg>')
    return Markup("".join(out))
