"""The report's plots as inline SVG, drawn here: no plotting library, no script, nothing fetched.

Every plot is an <svg class="plot" data-plot="NAME"> and every mark that carries a number has a data-value,
so the report can be checked in a browser and read by tools as well as by people.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 460
ACCENT, LIGHT, MISS, GOOD = "#3558e6", "#a9b8f5", "#d9485f", "#2f9e6e"
RANK_COLOURS = ("#2f9e6e", "#74c69d", "#b7e4c7", "#ffd166", "#f4a261", "#e9c46a", "#e76f51", "#d4a373")


def _svg(name: str, title: str, height: int, body: list[str]) -> SafeString:
    head = (
        f'<svg class="plot" data-plot="{name}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<text class="plot-title" x="8" y="16">{escape(title)}</text>'
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 — every text above is escaped


def _rect(x: float, y: float, w: float, h: float, fill: str, value, label: str) -> str:
    return (
        f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{fill}" '
        f'data-value="{value}"><title>{escape(label)}</title></rect>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", css: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}">{escape(text)}</text>'


def _short(name: str, limit: int = 30) -> str:
    name = name.removesuffix(".md")
    return name if len(name) <= limit else "…" + name[-(limit - 1) :]


def histogram(values: list[float], *, name: str, title: str, bins: int = 10) -> SafeString:
    """Counts of 0–1 scores in equal-width bins."""
    counts = [0] * bins
    for value in values:
        counts[min(int(max(value, 0.0) * bins), bins - 1)] += 1
    top, left, plot_w, plot_h = max(counts + [1]), 30, WIDTH - 40, 130
    body = [_text(left, 174, "0"), _text(left + plot_w, 174, "1", "end"), _text(8, 44, str(top), css="axis")]
    body.append(f'<line x1="{left}" y1="160" x2="{left + plot_w}" y2="160" class="axis-line"/>')
    for i, count in enumerate(counts):
        h = plot_h * count / top
        label = f"{i / bins:.1f}–{(i + 1) / bins:.1f}: {count}"
        body.append(_rect(left + i * plot_w / bins + 1, 160 - h, plot_w / bins - 2, h, ACCENT, count, label))
    body.append(_text(WIDTH - 8, 16, f"n = {len(values)}", "end", "axis"))
    return _svg(name, title, 182, body)


def document_hits(rows: list[tuple[str, float, float]], *, k: int) -> SafeString:
    """Per document: hit@k (light bar) with hit@1 (dark bar) over it."""
    left, plot_w, row_h = 206, WIDTH - 246, 18
    body = [_text(left, 34, "0", css="axis"), _text(left + plot_w, 34, "1", "end", "axis")]
    for i, (document, hit_1, hit_k) in enumerate(rows):
        y = 40 + i * row_h
        body.append(_text(left - 6, y + 12, _short(document), "end"))
        body.append(_rect(left, y + 2, plot_w * hit_k, row_h - 4, LIGHT, hit_k, f"{document}: hit@{k} {hit_k}"))
        body.append(_rect(left, y + 6, plot_w * hit_1, row_h - 12, ACCENT, hit_1, f"{document}: hit@1 {hit_1}"))
        body.append(_text(left + plot_w + 4, y + 12, f"{hit_k:.2f}", css="axis"))
    body.append(_text(WIDTH - 8, 16, f"dark hit@1, light hit@{k}", "end", "axis"))
    return _svg("document-hits", "Hit rate per document (hybrid)", 48 + len(rows) * row_h, body)


def reliability(bins: list[dict], *, ece: float | None) -> SafeString:
    """Accuracy per confidence bin against the diagonal of perfect calibration; dots sit at the bin's mean."""
    left, size, base = 40, 150, 178
    body = [
        f'<line x1="{left}" y1="{base}" x2="{left + size}" y2="{base - size}" class="diagonal"/>',
        f'<rect x="{left}" y="{base - size}" width="{size}" height="{size}" class="frame"/>',
        _text(left, base + 14, "0"),
        _text(left + size, base + 14, "1", "end"),
        _text(left + size / 2, base + 28, "confidence", "middle", "axis"),
        _text(left - 6, base - size + 10, "1", "end"),
        _text(left - 6, base - size / 2, "acc", "end", "axis"),
    ]
    width = size / len(bins)
    for i, row in enumerate(bins):
        if not row["n"]:
            continue
        h = size * row["accuracy"]
        label = f"confidence {row['low']:.1f}–{row['high']:.1f}: {row['n']} answers, accuracy {row['accuracy']}"
        body.append(_rect(left + i * width + 1, base - h, width - 2, h, LIGHT, row["accuracy"], label))
        cx, cy = left + size * row["confidence"], base - size * row["accuracy"]
        body.append(f'<circle class="mark" cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{ACCENT}" data-value="{row["n"]}"/>')
    legend = [f"ECE {ece:.3f}" if ece is not None else "ECE n/a", "bars: accuracy per bin", "line: perfect"]
    body += [_text(left + size + 24, 60 + 18 * i, line, css="axis") for i, line in enumerate(legend)]
    return _svg("reliability", "Confidence vs correctness (reliability diagram)", 214, body)


def latency(stages: dict[str, dict], search: dict[str, dict]) -> SafeString:
    """p50 (dark) and p95 (light) per answering stage and per search mode, in milliseconds."""
    rows = [(f"answer {stage.removesuffix('_ms')}", v["p50"], v["p95"]) for stage, v in stages.items()]
    rows += [(f"search {mode}", v["p50_ms"], v["p95_ms"]) for mode, v in search.items()]
    top = max([p95 for _, _, p95 in rows] + [1.0])
    left, plot_w, row_h = 110, WIDTH - 220, 20
    body = []
    for i, (label, p50, p95) in enumerate(rows):
        y = 30 + i * row_h
        body.append(_text(left - 6, y + 13, label, "end"))
        body.append(_rect(left, y + 2, plot_w * p95 / top, row_h - 4, LIGHT, p95, f"{label}: p95 {p95} ms"))
        body.append(_rect(left, y + 6, plot_w * p50 / top, row_h - 12, ACCENT, p50, f"{label}: p50 {p50} ms"))
        body.append(_text(left + plot_w * p95 / top + 4, y + 13, f"{p50:.0f} / {p95:.0f} ms", css="axis"))
    body.append(_text(WIDTH - 8, 16, "dark p50, light p95", "end", "axis"))
    return _svg("latency", "Latency", 40 + len(rows) * row_h, body)


def ranks(counts: dict[str, list[int]], *, k: int) -> SafeString:
    """Per search mode, how many questions found their document at rank 1, 2, … k, or not at all."""
    left, plot_w, row_h = 70, WIDTH - 90, 24
    body = []
    for i, (mode, row) in enumerate(counts.items()):
        y, x, total = 44 + i * row_h, float(left), sum(row) or 1
        body.append(_text(left - 6, y + 15, mode, "end"))
        for rank, count in enumerate(row, start=1):
            w = plot_w * count / total
            colour, label = (MISS, "missed") if rank > k else (RANK_COLOURS[min(rank, 8) - 1], f"rank {rank}")
            body.append(_rect(x, y + 2, w, row_h - 6, colour, count, f"{mode}: {label}: {count}"))
            x += w
    legend = [f"rank {r}" for r in range(1, min(k, 5) + 1)] + ["missed"]
    for i, label in enumerate(legend):
        colour = MISS if label == "missed" else RANK_COLOURS[i]
        body.append(f'<rect x="{left + i * 62}" y="24" width="10" height="10" fill="{colour}"/>')
        body.append(_text(left + i * 62 + 14, 33, label, css="axis"))
    return _svg("ranks", "Rank of the first chunk from the right document", 52 + len(counts) * row_h, body)
