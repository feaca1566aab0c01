"""The slots benchmark's figures and how they are printed."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from dataclasses import dataclass, field

import _slots_data as data
import _slots_scenario as scenario
from _slots_measure import BOOKABLE, FIRST_WINDOW, LAST_WINDOW, median, p95

TARGET_MS = 25.0
TARGET_GROWTH = 1.5


@dataclass
class Availability:
    events: int
    in_process: list[float] = field(default_factory=list)
    http: list[float] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)
    instances: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)


@dataclass
class Result:
    backend: str
    setup: dict[str, float] = field(default_factory=dict)
    runs: list[Availability] = field(default_factory=list)
    sequential: list[float] = field(default_factory=list)
    sequential_statuses: list[int] = field(default_factory=list)
    concurrent: list[tuple[int, float, float]] = field(default_factory=list)
    overlaps: int = 0
    new_bookings: int = 0
    problems: list[str] = field(default_factory=list)
    breakdown: dict[str, float] = field(default_factory=dict)


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def print_breakdown(backend: str, stages: dict[str, float]) -> None:
    whole = stages["whole request"]
    rows = [["stage", "median ms", "share"]]
    rows += [[label, f"{ms:.1f}", f"{ms / whole:.0%}"] for label, ms in stages.items()]
    print(f"\nWhere the time of one in-process 30-day GET /availability goes ({backend}, median per stage):")
    print(table(rows))


def report(
    args: argparse.Namespace,
    results: list[Result],
    versions: dict[str, str],
    load: tuple[float, float],
    cpu: tuple[float, float],
) -> None:
    years = data.base_years(args.events)
    print()
    print(
        f"Host in {scenario.TIMEZONE}, bookable {'-'.join(scenario.OPEN_HOURS)} every day,"
        f" {scenario.DURATION_MIN}-minute event type;"
        f" {args.events:,} events over {years} year(s) ending 2027 (~5% recurring),"
        f" {args.bookings} bookings in 2027."
    )
    print(
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}; "
        + "; ".join(f"{k} {v}" for k, v in versions.items())
        + f"; load average (1 min) at start {load[0]:.2f}, at end {load[1]:.2f};"
        f" CPU reference loop (_slots_measure.cpu_reference_ms) {cpu[0]:.1f} ms at start, {cpu[1]:.1f} ms"
        " at end"
    )
    scaling = (
        f" The {args.compare_events:,}-event host (same events and bookings plus older ones) is timed turn"
        " about with the other, window by window, in the same process."
        if args.compare_events
        else ""
    )
    print(
        f"30-day GET /availability, {args.repeat} windows starting {FIRST_WINDOW} to {LAST_WINDOW} (ms)."
        " Server time = the WSGI app answering in a process of its own (test client: no socket, no HTTP"
        " client); HTTP = requests over loopback to `caledee serve` (1 worker)."
        f"{scaling} Naive = read, parse and expand every event, same slot engine:"
        f" {args.baseline_repeat} of the windows, at the base size only (it parses the whole calendar)."
    )
    rows = [
        [
            "backend",
            "events",
            "busy inst./window",
            "slots/window",
            "server median",
            "server p95",
            "HTTP median",
            "HTTP p95",
            "naive median",
            "naive / ours",
            "target",
        ]
    ]
    for result in results:
        first = result.runs[0]
        for run in result.runs:
            rows.append(
                [
                    result.backend,
                    f"{run.events:,}",
                    f"{statistics.mean(run.instances):,.0f}",
                    f"{statistics.mean(run.slots):,.0f}",
                    f"{median(run.in_process):.1f}",
                    f"{p95(run.in_process):.1f}",
                    f"{median(run.http):.1f}" if run.http else "-",
                    f"{p95(run.http):.1f}" if run.http else "-",
                    f"{median(run.naive):,.0f}" if run.naive else "-",
                    f"{median(run.naive) / median(run.in_process):,.0f}x" if run.naive else "-",
                    f"< {TARGET_MS:.0f} ms" if run is first else f"<= {TARGET_GROWTH}x of {first.events:,}",
                ]
            )
    print(table(rows))
    for result in results:
        if len(result.runs) > 1:
            small, big = result.runs[0], result.runs[-1]
            growth = median(big.in_process) / median(small.in_process)
            paired = median([b / s for b, s in zip(big.in_process, small.in_process, strict=True)])
            verdict = "met" if growth <= TARGET_GROWTH else "MISSED"
            print(
                f"{result.backend}: {big.events:,} / {small.events:,} events: server median"
                f" x{growth:.2f}, per window (same window, back to back) median x{paired:.2f}"
                f" (target <= {TARGET_GROWTH}x: {verdict})"
            )
        verdict = "met" if median(result.runs[0].in_process) < TARGET_MS else "MISSED"
        print(
            f"{result.backend}: 30-day availability server median"
            f" {median(result.runs[0].in_process):.1f} ms (target < {TARGET_MS:.0f} ms: {verdict})"
        )

    print()
    print(
        f"POST /bookings over HTTP (ms), distinct free slots {BOOKABLE[0]} to {BOOKABLE[1]},"
        f" {args.events:,} events:"
        " sequential against 1 server worker; then 2 client processes against `caledee serve --workers 2`."
    )
    rows = [
        [
            "backend",
            "sequential",
            "median",
            "p95",
            "2 processes",
            "201s",
            "bookings/s",
            "median",
            "p95",
            "overlaps",
        ]
    ]
    for result in results:
        latencies = [(end - start) * 1000 for _, start, end in result.concurrent]
        wall = max((e for _, _, e in result.concurrent), default=0) - min(
            (s for _, s, _ in result.concurrent), default=0
        )
        rows.append(
            [
                result.backend,
                str(len(result.sequential)),
                f"{median(result.sequential):.1f}",
                f"{p95(result.sequential):.1f}",
                str(len(result.concurrent)),
                str(sum(1 for status, _, _ in result.concurrent if status == 201)),
                f"{len(result.concurrent) / wall:.1f}" if wall else "-",
                f"{median(latencies):.1f}",
                f"{p95(latencies):.1f}",
                str(result.overlaps),
            ]
        )
    print(table(rows))
    print()
    for result in results:
        print(f"{result.backend} setup: " + ", ".join(f"{k} {v:,.1f} s" for k, v in result.setup.items()))
    for result in results:
        if result.breakdown:
            print_breakdown(result.backend, result.breakdown)
    problems = [f"{r.backend}: {p}" for r in results for p in r.problems]
    print(
        "Checks: "
        + (
            "all passed (naive = ours, HTTP = in-process, bulk loader = put_object, every booking 201,"
            " no overlaps)"
            if not problems
            else f"{len(problems)} FAILED"
        )
    )
    for problem in problems:
        print(f"  - {problem}")
