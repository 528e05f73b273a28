"""`python -m bench --find-rate --p99 MS`: the highest steady press rate whose press → last socket
p99 stays within MS, for the service and for the hollow (bench.hollow, the floor), in one run.

Both servers run side by side from one seed, one worker each, each on a private Redis of its own
(the two publish to the same channel names). Each gets its sockets once, from a client process
of its own, and is then pressed in steps on those same sockets: a step presses at one rate for
--step seconds (open loop, random households, latency from the scheduled time), waits for the
answers and the arrivals, and then pauses until both servers' CPU is back near its idle level.

Each server's search goes coarse to fine: it doubles from --from while steps pass, then bisects
(at the geometric mean, in whole presses a second) between the highest pass and the lowest
failure until they are within --precision of each other, or --max-steps are spent. A step passes
when every press was answered 2xx, every answered press reached every socket of its group and
every board, and the p99 of press → last socket is within the bound. The two searches take turns
step by step, the service first in one round and the hollow first in the next (so that a machine
whose speed drifts slows both alike), and the one with steps left carries on alone. A failed step
whose client saturated a core or pressed late is pressed once more at the same rate, and the
second one counts.
"""

import argparse
import asyncio
import math
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import psutil

from bench import clients, hollow, procs, report
from bench.seed import Seeded, seed

RESULTS = Path(__file__).parent / "results" / "rate-latest.json"
IDLE_SECONDS = 2.0  # each server's CPU measured this long before the first step: its idle level
QUIET_ABOVE_IDLE = 0.10  # a pause ends once the server's CPU is within this of idle (0.10: 10 %)
QUIET_WINDOW = 0.5  # over this many seconds
QUIET_MAX_SECONDS = 15.0  # and at the latest after this long
CLIENT_SATURATED_PERCENT = 90.0  # a step's client process this busy may be its own limit
GENERATOR_LATE_MS = 10.0  # and so may one whose presses went out this late
REPO = Path(__file__).resolve().parents[1]
SERVICE_PACKAGES = ("server", "groups", "notifier", "storage")


@dataclass
class Search:
    """Coarse to fine: double from start while steps pass, then bisect between the highest pass
    and the lowest failure until failed ≤ passed × (1 + precision)."""

    start: float
    precision: float
    max_steps: int
    passed: float | None = None  # the highest rate that passed (below every failure)
    failed: float | None = None  # the lowest rate that failed
    steps: int = 0

    def next(self) -> float | None:
        """The next rate to try, or None when the search is done."""
        if self.steps >= self.max_steps:
            return None
        if self.passed is None and self.failed is None:
            return self.start
        if self.failed is None:
            assert self.passed is not None
            return self.passed * 2
        if self.passed is None:
            halved = math.floor(self.failed / 2)
            return float(halved) if halved >= 1 else None
        if self.failed <= self.passed * (1 + self.precision):
            return None
        rate = float(round(math.sqrt(self.passed * self.failed)))
        return rate if self.passed < rate < self.failed else None

    def record(self, rate: float, *, ok: bool | None) -> None:
        """One step's verdict at this rate (None: inconclusive, the same rate comes next)."""
        self.steps += 1
        if ok is None:
            return
        if ok:
            self.passed = rate if self.passed is None else max(self.passed, rate)
        else:
            self.failed = rate if self.failed is None else min(self.failed, rate)


@dataclass
class Target:
    """One server under search: its process, its client process and the steps so far."""

    name: str
    server: subprocess.Popen[bytes]
    client: BaseProcess
    conn: Connection
    search: Search
    connect_seconds: float = 0.0
    idle_cpu: float = 0.0  # fraction of a core before the first step
    steps: list[dict[str, Any]] = field(default_factory=list)
    retried: set[float] = field(default_factory=set)  # rates whose failure was pressed again

    @property
    def served(self) -> psutil.Process:
        """The server's process (its CPU is summed with its children's)."""
        return psutil.Process(self.server.pid)


def run(args: argparse.Namespace, *, database_url: str | None) -> int:
    """Search the service's and the hollow's highest rate at the bound; print and save both."""
    workdir = Path(tempfile.mkdtemp(prefix="tenwatch-rate-"))
    database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    started: list[subprocess.Popen[bytes]] = []
    children: list[BaseProcess] = []
    try:
        print(f"seeding {args.sockets} households and {args.boards} board tokens in {workdir} …")
        seeded = asyncio.run(
            seed(
                database_url, households=args.sockets, boards=args.boards, phones=not args.no_phones
            )
        )
        targets: list[Target] = []
        for name, options in (("service", {}), ("hollow", hollow.options(seeded, workdir))):
            (workdir / name).mkdir()
            redis_process, redis_url = procs.start_redis(workdir / name)
            started.append(redis_process)
            server, base = procs.start_server(
                database_url=database_url,
                redis_url=redis_url,
                log=workdir / f"{name}.log",
                **options,
            )
            started.append(server)
            plan = clients.Plan(
                base=base,
                households=seeded.households,
                boards=seeded.boards,
                deflate=not args.no_deflate,
            )
            process, conn = procs.child(clients.main, (plan,), f"{name} client")
            children.append(process)
            search = Search(args.start_rate, args.precision, args.max_steps)
            targets.append(Target(name, server, process, conn, search))
            print(f"{name}: connecting {len(seeded.households) + len(seeded.boards)} sockets …")
            target = targets[-1]
            connected = procs.expect(conn, "connected", process, 600)
            target.connect_seconds = connected["connect_seconds"]
            print(f"  connected in {target.connect_seconds:.1f} s")
        for target, idle in zip(targets, _cpu_over(tuple(targets), IDLE_SECONDS), strict=True):
            target.idle_cpu = idle
        print(
            "idle: "
            + ", ".join(f"{t.name} {100 * t.idle_cpu:.0f} % of a core" for t in targets)
            + f"; searching for the highest rate at p99 ≤ {args.p99:g} ms, {args.step:g} s a step"
            " (latency: press → last socket; cpu: the server's; beside: the other server's)"
        )
        print(HEADER)
        rounds = 0
        while True:
            order = targets if rounds % 2 == 0 else targets[::-1]
            stepped = False
            for target in order:
                rate = target.search.next()
                if rate is None:
                    continue
                partner = next(t for t in targets if t is not target)
                step = _step(target, partner, rate, args)
                # A failure with the generator late or saturated says little about the server:
                # such a step is pressed once more at the same rate, and the second one counts.
                step["again"] = not step["ok"] and _limited(step) and rate not in target.retried
                if step["again"]:
                    target.retried.add(rate)
                target.search.record(rate, ok=None if step["again"] else step["ok"])
                target.steps.append(step)
                print(_line(target, step))
                stepped = True
            if not stepped:
                break
            rounds += 1
        for target in targets:
            target.conn.send(("close", None))
            procs.expect(target.conn, "done", target.client, 60)
        figures = _figures(args, seeded, targets)
        print(render(figures))
        report.save(figures, RESULTS)
        print(f"figures written to {RESULTS}")
        return 0
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
        for popen in reversed(started):
            procs.stop(popen)
        procs.clean(workdir, keep=args.keep)


def _cpu_over(targets: tuple[Target, ...], seconds: float) -> list[float]:
    """Each server's CPU over the next seconds, as a fraction of one core."""
    cpu0, wall0 = [procs.cpu_seconds(t.served) for t in targets], time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - wall0
    return [(procs.cpu_seconds(t.served) - c) / wall for t, c in zip(targets, cpu0, strict=True)]


def _step(target: Target, partner: Target, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    """Press the target at rate for a step, then pause until both servers are quiet; its figures."""
    target.conn.send(("press", (rate, args.step)))
    procs.expect(target.conn, "pressing", target.client, 30)
    cpu0, partner0 = procs.cpu_seconds(target.served), procs.cpu_seconds(partner.served)
    wall0 = time.perf_counter()
    procs.expect(target.conn, "pressed", target.client, args.step + 60)
    cpu1, partner1 = procs.cpu_seconds(target.served), procs.cpu_seconds(partner.served)
    wall1 = time.perf_counter()
    result = procs.expect(target.conn, "step", target.client, 60)
    pause0 = time.perf_counter()
    time.sleep(args.pause)
    while True:  # until both servers are near idle: the service's deadlines fire for minutes
        quiet, partner_quiet = _cpu_over((target, partner), QUIET_WINDOW)
        calm = quiet <= target.idle_cpu + QUIET_ABOVE_IDLE
        if calm and partner_quiet <= partner.idle_cpu + QUIET_ABOVE_IDLE:
            break
        if time.perf_counter() - pause0 > QUIET_MAX_SECONDS:
            break
    errors = sum(result["press_errors"].values())
    lost = result["expected"] - result["delivered"]
    last = report.quantiles(result["last_s"])
    presses = result["presses"]
    p99 = last["p99"]
    complete = errors == 0 and lost == 0 and last["n"] == presses
    return {
        "rate": rate,
        "seconds": args.step,
        "presses": presses,
        "answered": result["answered"],
        "press_errors": result["press_errors"],
        "lost": lost,
        "duplicates": result["duplicates"],
        "leaked": result["leaked"],
        "closed_by_server": result["closed_by_server"],
        "last_ms": last,
        "accepted_ms": report.quantiles(result["accepted_s"]),
        "server_cpu_percent": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "server_cpu_ms_a_press": 1000 * (cpu1 - cpu0) / max(presses, 1),
        "partner_cpu_percent": 100 * (partner1 - partner0) / (wall1 - wall0),
        "client_cpu_percent": result["client_cpu_percent"],
        "generator_max_lag_ms": result["generator_max_lag_ms"],
        "pause_seconds": time.perf_counter() - pause0,
        "quiet_cpu_percent": 100 * quiet,
        "partner_quiet_cpu_percent": 100 * partner_quiet,
        "ok": complete and p99 is not None and p99 <= args.p99,
    }


def _verdict(step: dict[str, Any]) -> str:
    return "pass" if step["ok"] else "again" if step.get("again") else "FAIL"


HEADER = (
    "  server    rate/s   p50 ms   p99 ms   max ms  answered    lost  cpu %  ms/press"
    "  beside %  client %  verdict  pause s  answers"
)


def _line(target: Target, step: dict[str, Any]) -> str:
    """One step as a row under HEADER."""
    last, answered = step["last_ms"], step["answered"]
    latency = (
        f"{last['p50']:8.1f} {last['p99']:8.1f} {last['max']:8.1f}"
        if last["n"]
        else f"{'(none reached all)':>26}"
    )
    flags = ""
    if step["closed_by_server"]:
        closes = ", ".join(f"{n} × {code}" for code, n in step["closed_by_server"].items())
        flags += f"  ! sockets closed by the server: {closes}"
    if step["client_cpu_percent"] >= CLIENT_SATURATED_PERCENT:
        flags += "  ! client saturated"
    if step["generator_max_lag_ms"] >= GENERATOR_LATE_MS:
        flags += f"  ! generator {step['generator_max_lag_ms']:.0f} ms late"
    share = f"{sum(answered.values())}/{step['presses']}"
    return (
        f"  {target.name:<7} {step['rate']:8.0f} {latency}  {share:<11} {step['lost']:4}"
        f"  {step['server_cpu_percent']:5.0f}  {step['server_cpu_ms_a_press']:8.2f}"
        f"  {step['partner_cpu_percent']:8.0f}  {step['client_cpu_percent']:8.0f}"
        f"  {_verdict(step):<7}  {step['pause_seconds']:7.1f}"
        f"  {', '.join(f'{n} × {s}' for s, n in sorted(answered.items())) or '-'}{flags}"
    )


def _commit() -> dict[str, Any]:
    """The commit the service ran from, and whether its packages differ from it."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "service_changed_since": bool(git("status", "--porcelain", "--", *SERVICE_PACKAGES)),
    }


def _limited(step: dict[str, Any]) -> bool:
    """Whether the load generator, not only the server, may have made this step fail: the
    client's process saturated a core, or its presses went out late."""
    return bool(
        step["client_cpu_percent"] >= CLIENT_SATURATED_PERCENT
        or step["generator_max_lag_ms"] >= GENERATOR_LATE_MS
    )


def _cpu_a_press(service: Target, hollow_: Target) -> dict[str, Any] | None:
    """Server CPU a press of the two at the same rate: the highest rate both stepped at and
    passed, else the highest both stepped at."""
    s_at = {step["rate"]: step for step in service.steps}
    h_at = {step["rate"]: step for step in hollow_.steps}
    common = sorted(set(s_at) & set(h_at))
    both = [r for r in common if s_at[r]["ok"] and h_at[r]["ok"]] or common
    if not both:
        return None
    rate = both[-1]
    s_ms, h_ms = s_at[rate]["server_cpu_ms_a_press"], h_at[rate]["server_cpu_ms_a_press"]
    return {"rate": rate, "service_ms": s_ms, "hollow_ms": h_ms, "ratio": s_ms / h_ms}


def _figures(args: argparse.Namespace, seeded: Seeded, targets: list[Target]) -> dict[str, Any]:
    service, hollow_ = targets
    found = {
        t.name: {
            "passed": t.search.passed,
            "failed": t.search.failed,
            "failed_generator_limited": any(
                _limited(s) for s in t.steps if s["rate"] == t.search.failed and not s["again"]
            ),
            "steps": t.steps,
            "connect_seconds": t.connect_seconds,
            "idle_cpu_percent": 100 * t.idle_cpu,
        }
        for t in targets
    }
    s_pass, s_fail = service.search.passed, service.search.failed
    h_pass, h_fail = hollow_.search.passed, hollow_.search.failed
    ratio = {
        "passed": s_pass / h_pass if s_pass and h_pass else None,
        "low": s_pass / h_fail if s_pass and h_fail else None,  # the brackets' extremes
        "high": s_fail / h_pass if s_fail and h_pass else None,
    }
    return {
        "run": {
            **report.setting(args, seeded),
            **_commit(),
            "sockets": len(seeded.households) + len(seeded.boards),
            "workers": 1,
            "p99_bound_ms": args.p99,
            "step_seconds": args.step,
            "start_rate": args.start_rate,
            "precision": args.precision,
            "max_steps": args.max_steps,
        },
        "found": found,
        "ratio": ratio,
        "cpu_a_press": _cpu_a_press(service, hollow_),
    }


def _rate(found: dict[str, Any]) -> str:
    passed, failed = found["passed"], found["failed"]
    if passed is None:
        return f"none passed (the lowest tried, {failed:g}/s, failed)"
    if failed is None:
        return f"≥ {passed:g}/s (no step failed)"
    return f"{passed:g}/s (failed at {failed:g}/s)"


def render(figures: dict[str, Any]) -> str:
    """The summary of a search."""
    run, found, ratio = figures["run"], figures["found"], figures["ratio"]
    commit = (run["commit"] or "unknown")[:12] + (
        " + uncommitted service changes" if run["service_changed_since"] else ""
    )
    lines = [
        "",
        f"Highest steady rate with press → last socket p99 ≤ {run['p99_bound_ms']:g} ms —"
        f" {run['cpus']} CPUs, {run['sockets']} sockets"
        f" (deflate {'on' if run['deflate'] else 'off'}), one worker each,"
        f" service on {run['database']} at {commit}",
    ]
    for name, got in found.items():
        lines.append(
            f"  {name:<7} {_rate(got)} in {len(got['steps'])} steps of {run['step_seconds']:g} s"
        )
        if got["failed_generator_limited"]:
            lines.append(
                f"          ! at {got['failed']:g}/s the client saturated or pressed late: that"
                " failure may be the load generator's (or the machine's), not only the server's"
            )
    if ratio["passed"] is not None:
        bracket = (
            f" (between {ratio['low']:.3f} and {ratio['high']:.3f} by the brackets)"
            if ratio["low"] is not None and ratio["high"] is not None
            else ""
        )
        lines.append(f"  service / hollow = {ratio['passed']:.3f}{bracket}")
    else:
        lines.append("  service / hollow: n/a (one of them passed no step)")
    cpu = figures["cpu_a_press"]
    if cpu is not None:
        lines.append(
            f"  server CPU a press at {cpu['rate']:g}/s: service {cpu['service_ms']:.2f} ms,"
            f" hollow {cpu['hollow_ms']:.2f} ms: {cpu['ratio']:.2f} ×"
        )
    lines.append("")
    return "\n".join(lines)
