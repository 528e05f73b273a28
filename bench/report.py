"""Percentiles and the printed report."""

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from bench.seed import Seeded


def quantiles(seconds: list[float]) -> dict[str, float | None]:
    """p50, p99 and max in milliseconds (nearest rank); None for an empty sample."""
    if not seconds:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000

    return {"p50": rank(0.50), "p99": rank(0.99), "max": ordered[-1] * 1000, "n": len(ordered)}


def setting(args: argparse.Namespace, seeded: Seeded) -> dict[str, Any]:
    """What a run ran on: the machine, the seed and the options every run shares."""
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "households": len(seeded.households),
        "groups": seeded.groups,
        "boards": len(seeded.boards),
        "deflate": not args.no_deflate,
        "phones": not args.no_phones,
        "database": "postgresql" if args.postgres else "sqlite",
    }


def ms(stats: dict[str, float | None]) -> str:
    """p50 / p99 / max of quantiles() on one line."""
    if not stats["n"]:
        return "no sample"
    return (
        f"p50 {stats['p50']:7.2f} ms   p99 {stats['p99']:7.2f} ms   max {stats['max']:7.2f} ms"
        f"   (n={stats['n']})"
    )


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f} ×" if a is not None and b else "n/a"


def render(figures: dict[str, Any]) -> str:
    """The human report of one run."""
    run, lat, floor = figures["run"], figures["latency_ms"], figures["floor_ms"]
    counts, server, client = figures["counts"], figures["server"], figures["client"]
    lines = [
        "",
        f"TenWatch delivery benchmark — {run['cpus']} CPUs, {run['households']} households in "
        f"{run['groups']} groups, {run['boards']} board sockets "
        f"({run['sockets']} sockets, deflate {'on' if run['deflate'] else 'off'}), "
        f"{run['workers']} uvicorn worker{'s' if run['workers'] > 1 else ''} on {run['database']}"
        + (" — HOLLOW: the stack without the service (bench.hollow)" if run.get("hollow") else ""),
        f"  press rate {run['rate']:g}/s for {run['duration']:g} s = {counts['presses']} presses"
        f" (open loop, latency from the scheduled time)",
        "",
        f"  press → accepted (HTTP 201)   {ms(lat['accepted'])}",
        f"  press → last neighbour socket {ms(lat['neighbour'])}",
        f"  press → last board socket     {ms(lat['board'])}",
        f"  floor: raw Redis PUBLISH→SUB  {ms(floor)}",
        f"  delivery p99 = {_ratio(lat['neighbour']['p99'], floor['p99'])} raw Redis p99"
        f" (p50: {_ratio(lat['neighbour']['p50'], floor['p50'])})",
        "",
        f"  delivered {counts['delivered']}/{counts['expected']}   lost {counts['lost']}"
        f"   duplicates {counts['duplicates']}   leaked to other groups {counts['leaked']}"
        f"   press errors {sum(counts['press_errors'].values())}",
    ]
    lines += [f"    {n} × {reason}" for reason, n in counts["press_errors"].items()]
    closes = counts.get("closed_by_server") or {}
    if closes:
        lines.append(
            "  sockets closed by the server (and opened again, without replay): "
            + ", ".join(f"{n} × code {code}" for code, n in closes.items())
        )
    lines += [
        f"  server RSS {server['rss_before_mib']:.0f} MiB → {server['rss_after_mib']:.0f} MiB"
        f" with sockets: {server['kib_per_socket']:.1f} KiB per socket",
        f"  server CPU during presses {server['cpu_percent']:.0f} % of one core"
        + (" (all workers)" if run["workers"] > 1 else ""),
        f"  client CPU during presses {client['cpu_percent']:.0f} % of one core"
        f"; generator lag max {client['generator_max_lag_ms']:.1f} ms"
        f"; {run['sockets']} sockets opened in {client['connect_seconds']:.1f} s",
    ]
    if client["cpu_percent"] >= 90:
        lines.append(
            "  ! the client process saturates a core: the figures are the generator's limit"
        )
    if server["cpu_percent"] >= 90 * run["workers"]:
        lines.append("  ! the server's workers saturate their cores")
    targets = figures["targets"]
    lines += [
        "",
        "  targets: " + "; ".join(f"{k} {'OK' if ok else 'MISSED'}" for k, ok in targets.items()),
        "",
    ]
    return "\n".join(lines)


def save(figures: dict[str, Any], path: Path) -> None:
    """Write the figures as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
