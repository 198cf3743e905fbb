"""Summaries, the results table and the JSON report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import json
import math
from pathlib import Path
import statistics
from typing import Any


@dataclass(frozen=True, slots=True)
class Summary:
    """Median and 95th percentile (nearest rank) of repeated measurements."""

    n: int
    median: float
    p95: float
    unit: str

    @classmethod
    def of(cls, values: list[float], unit: str, scale: float = 1.0) -> Summary:
        """Summarise ``values`` multiplied by ``scale`` (e.g. 1000 for s -> ms)."""
        if not values:
            raise ValueError("no measurements")
        ordered = sorted(v * scale for v in values)
        rank = max(1, math.ceil(0.95 * len(ordered)))
        return cls(len(ordered), statistics.median(ordered), ordered[rank - 1], unit)


@dataclass(slots=True)
class Report:
    """Everything one benchmark run measured."""

    machine: dict[str, Any]
    rows: list[tuple[str, str, Summary | float | str]]
    ratios: list[tuple[str, float]]
    extra: dict[str, Any]
    spreads: dict[str, list[float]] = field(default_factory=dict)

    def add(self, section: str, name: str, value: Summary | float | str) -> None:
        """Add one row to ``section``."""
        self.rows.append((section, name, value))

    def ratio(
        self,
        name: str,
        numerator: float,
        denominator: float,
        spread: list[float] | None = None,
    ) -> float:
        """Add and return ``numerator / denominator``.

        ``spread``: the same ratio computed per repeat (block of interleaved
        runs), shown as min / median / max: how much the noise moves it.
        """
        value = numerator / denominator if denominator else math.inf
        self.ratios.append((name, value))
        if spread:
            self.spreads[name] = spread
        return value

    def table(self) -> str:
        """Render the results as a plain text table."""
        lines = [
            "machine: " + ", ".join(f"{k}={v}" for k, v in self.machine.items()),
            "",
            f"{'section':<12} {'measurement':<58} {'n':>6} {'median':>11} {'p95':>11}  unit",
            "-" * 108,
        ]
        for section, name, value in self.rows:
            if isinstance(value, Summary):
                lines.append(
                    f"{section:<12} {name:<58} {value.n:>6} {value.median:>11.3f}"
                    f" {value.p95:>11.3f}  {value.unit}"
                )
            elif isinstance(value, float):
                lines.append(f"{section:<12} {name:<58} {'':>6} {value:>11.3f}")
            else:
                lines.append(f"{section:<12} {name:<58} {'':>6} {value:>11}")
        lines += ["", "ratios (same run):"]
        for name, value in self.ratios:
            line = f"  {name:<70} {value:8.2f}x"
            if spread := self.spreads.get(name):
                line += (
                    f"   repeats: min {min(spread):.2f} median"
                    f" {statistics.median(spread):.2f} max {max(spread):.2f}"
                    f" (n={len(spread)})"
                )
            lines.append(line)
        return "\n".join(lines)

    def write_json(self, path: Path) -> None:
        """Write the results as JSON (``benchmarks/results`` is git-ignored)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "machine": self.machine,
            "results": [
                {
                    "section": section,
                    "name": name,
                    **(
                        asdict(value)
                        if isinstance(value, Summary)
                        else {"value": value}
                    ),
                }
                for section, name, value in self.rows
            ],
            "ratios": dict(self.ratios),
            "ratio_spread_over_repeats": {
                name: {
                    "min": min(values),
                    "median": statistics.median(values),
                    "max": max(values),
                    "values": values,
                }
                for name, values in self.spreads.items()
            },
            "extra": self.extra,
        }
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
