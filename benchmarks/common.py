"""What every benchmark scenario gets and gives back.

A scenario is a module in `benchmarks/scenarios/` with `NAME`, `TITLE` and `run(ctx) -> Result`. It measures its
own reference in the same run (the protocol minimum, the configured rate limit, the naive per-row worker, the
smallest size) and reports each figure as a ratio to it, so the numbers read the same on any machine.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # no display here, and none wanted: PNG files only
import matplotlib.pyplot as plt  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from zensync_pipelines.store.db import make_engine  # noqa: E402

POSTGRES_URL = os.environ.get("ZENSYNC_BENCH_POSTGRES_URL",
                              os.environ.get("ZENSYNC_TEST_POSTGRES_URL",
                                             "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    reference: Optional[str] = None  # what the ratio is taken against, e.g. "protocol minimum (100 calls)"
    ratio: Optional[float] = None
    note: str = ""


@dataclass
class Target:
    name: str
    goal: str  # e.g. "<= 1.1x the protocol minimum"
    value: float
    unit: str
    met: bool


@dataclass
class Result:
    scenario: str
    title: str
    seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)  # PNG file names in the output folder
    notes: list[str] = field(default_factory=list)  # sizes, method, what bounds the figures
    data: dict[str, Any] = field(default_factory=dict)  # raw series for the JSON file

    def figure(self, name: str, value: float, unit: str, reference: Optional[str] = None,
               reference_value: Optional[float] = None, note: str = "") -> Figure:
        ratio = value / reference_value if reference_value else None
        found = Figure(name, value, unit, reference, ratio, note)
        self.figures.append(found)
        return found

    def target(self, name: str, goal: str, value: float, unit: str, met: bool) -> Target:
        found = Target(name, goal, value, unit, bool(met))
        self.targets.append(found)
        return found

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Result":
        return cls(**{**data, "figures": [Figure(**f) for f in data["figures"]],
                      "targets": [Target(**t) for t in data["targets"]]})


class Context:
    def __init__(self, smoke: bool, out: Path, work: Path):
        self.smoke, self.out, self.work = smoke, out, work
        self.out.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)

    def size(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def sqlite_url(self, name: str) -> str:
        path = self.work / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"

    @contextmanager
    def postgres_url(self) -> Iterator[str]:
        """A fresh schema on the PostgreSQL server, dropped afterwards."""
        schema = f"zsbench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    def each_backend(self, name: str, measure: Callable[[str, str], Any]) -> dict[str, Any]:
        """measure(backend, url) on a fresh SQLite file, then on a fresh PostgreSQL schema."""
        found = {"SQLite": measure("SQLite", self.sqlite_url(name))}
        with self.postgres_url() as url:
            found["PostgreSQL"] = measure("PostgreSQL", url)
        return found

    # -- plots -------------------------------------------------------------------------------------------------
    def bar_plot(self, file: str, title: str, labels: Sequence[str], values: Sequence[float], ylabel: str,
                 log: bool = False, reference: Optional[float] = None, reference_label: str = "") -> str:
        fig, ax = plt.subplots(figsize=(7, 4))
        bars = ax.bar(labels, values, color="#4C72B0")
        ax.bar_label(bars, labels=[_short(v) for v in values], fontsize=8)
        if reference is not None:
            ax.axhline(reference, color="#C44E52", linestyle="--", label=reference_label)
            ax.legend()
        if log:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        plt.setp(ax.get_xticklabels(), rotation=15, ha="right", fontsize=8)
        return self._save(fig, file)

    def line_plot(self, file: str, title: str, series: dict[str, tuple[Sequence[float], Sequence[float]]],
                  xlabel: str, ylabel: str, logx: bool = False, logy: bool = False,
                  reference: Optional[float] = None, reference_label: str = "") -> str:
        fig, ax = plt.subplots(figsize=(7, 4))
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, marker="o", label=label)
        if reference is not None:
            ax.axhline(reference, color="#C44E52", linestyle="--", label=reference_label)
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend()
        return self._save(fig, file)

    def _save(self, fig: Any, file: str) -> str:
        fig.tight_layout()
        fig.savefig(self.out / file, dpi=110)
        plt.close(fig)
        return file


def _short(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: with 20 samples p95 is the 19th smallest, a value that was measured."""
    ordered = sorted(values)
    rank = max(1, -(-int(round(share * 100)) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def dump(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
