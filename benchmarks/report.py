"""The markdown report of one run: per scenario its figures (with ratios), targets, plots and notes."""

from __future__ import annotations

from typing import Any, Sequence

from .common import Result


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"


def markdown(meta: dict[str, Any], results: Sequence[Result]) -> str:
    lines = [f"# zensync benchmarks{' (smoke run: sizes too small to judge speed)' if meta['smoke'] else ''}", "",
             f"Run {meta['started']}, {meta['seconds']} s, Python {meta['python']}, {meta['machine']}.", ""]
    targets = [(r, t) for r in results for t in r.targets]
    if targets:
        lines += ["## Targets", "", "| scenario | target | goal | measured | |", "|---|---|---|---|---|"]
        lines += [f"| {r.scenario} | {t.name} | {t.goal} | {_number(t.value)} {t.unit} | "
                  f"{'met' if t.met else '**missed**'} |" for r, t in targets]
        lines.append("")
    for r in results:
        lines += [f"## {r.title}", "", f"`{r.scenario}`, {r.seconds} s.", ""]
        if r.figures:
            lines += ["| figure | value | ratio | reference |", "|---|---|---|---|"]
            for f in r.figures:
                ratio = f"{f.ratio:.3g}x" if f.ratio is not None else ""
                note = f" ({f.note})" if f.note else ""
                lines.append(f"| {f.name}{note} | {_number(f.value)} {f.unit} | {ratio} | {f.reference or ''} |")
            lines.append("")
        lines += [f"![{p}]({p})" for p in r.plots]
        if r.plots:
            lines.append("")
        lines += [f"- {n}" for n in r.notes]
        lines.append("")
    return "\n".join(lines)
