"""`python -m bench`: seed, start Redis and the service, connect every socket, press, report.

The default run (2000 sockets, 100 presses/s for 10 s) takes about a minute; the issue's
target is `--sockets 10000 --rate 500 --duration 20`. `--storm N --within T` instead presses
N households once each within T seconds (bench/storm.py); `--find-rate --p99 MS` searches the
service's and the hollow's highest steady rate within a p99 bound (bench/rate.py). See
bench/README.md.
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import census, clients, floor, hollow, procs, rate, report, storm
from bench.seed import seed

RESULTS = Path(__file__).parent / "results" / "latest.json"
PROFILE = RESULTS.with_name("server-profile.txt")
CENSUS = RESULTS.with_name("census.json")
TARGET_P99_MS, TARGET_KIB_PER_SOCKET = 10.0, 30.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sockets",
        type=int,
        help="households, one socket each (default 2000; a storm's default: --storm's N)",
    )
    parser.add_argument("--boards", type=int, default=5, help="board sockets (patrol members)")
    parser.add_argument("--rate", type=float, default=100, help="presses per second")
    parser.add_argument("--duration", type=float, default=10, help="seconds of pressing")
    parser.add_argument("--redis-url", help="use this Redis instead of starting a private one")
    parser.add_argument("--no-phones", action="store_true", help="residents without phones: no SMS")
    parser.add_argument("--no-deflate", action="store_true", help="sockets without compression")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the server while pressing (collapsed stacks)"
    )
    parser.add_argument(
        "--postgres",
        metavar="DSN",
        help="store in a fresh database on this PostgreSQL server (postgresql://user@host:port/db)"
        " instead of a SQLite file",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (the target: one)"
    )
    parser.add_argument(
        "--hollow",
        action="store_true",
        help="serve bench.hollow instead: the same stack with no storage and no alarm logic, the"
        " floor under the service's own work",
    )
    parser.add_argument(
        "--census",
        action="store_true",
        help="count inside the server where the sockets' memory goes (tracemalloc and the"
        " collector's objects by type; slows the server and inflates its RSS)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (db, server log)")
    storming = parser.add_argument_group("storm", "one community's households all press at once")
    storming.add_argument(
        "--storm",
        type=int,
        nargs="?",
        const=3753,
        metavar="N",
        help="N households (3753 when no N is given) press once each within --within seconds",
    )
    storming.add_argument(
        "--within", type=float, default=5.0, metavar="T", help="seconds the storm's presses span"
    )
    storming.add_argument(
        "--redis",
        action="store_true",
        help="a storm on a private Redis bus with one worker (more workers always use one)",
    )
    storming.add_argument(
        "--clients",
        type=int,
        default=1,
        metavar="K",
        help="at least K client processes (more when the sockets and presses need more files"
        f" than {storm.FILES_PER_PROCESS} a process)",
    )
    storming.add_argument(
        "--patience",
        type=float,
        default=storm.PATIENCE_SECONDS,
        help="seconds a storm's press waits for its answer before the client gives up",
    )
    searching = parser.add_argument_group(
        "find-rate",
        "the highest steady rate within a p99 bound, the service and --hollow side by side"
        " (bench/rate.py)",
    )
    searching.add_argument(
        "--find-rate",
        action="store_true",
        help="search each server's highest presses/s whose press → last socket p99 is within"
        " --p99, in steps on the same connected sockets, and print both rates and their ratio",
    )
    searching.add_argument(
        "--p99",
        type=float,
        default=50.0,
        metavar="MS",
        help="the bound a step must keep, in ms (default %(default)g)",
    )
    searching.add_argument(
        "--step",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds of pressing a step (default %(default)g)",
    )
    searching.add_argument(
        "--from",
        dest="start_rate",
        type=float,
        default=50.0,
        metavar="RATE",
        help="the first step's rate (default %(default)g/s); it doubles while steps pass,"
        " then bisects",
    )
    searching.add_argument(
        "--precision",
        type=float,
        default=0.1,
        help="bisect until the lowest failing rate is within this fraction of the highest pass"
        " (default %(default)g)",
    )
    searching.add_argument(
        "--max-steps",
        type=int,
        default=12,
        metavar="K",
        help="at most K steps a server (default %(default)d)",
    )
    searching.add_argument(
        "--pause",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds at least between steps (default %(default)g), then until the server is"
        " back near its idle CPU",
    )
    args = parser.parse_args()
    if args.find_rate:
        if args.storm is not None or args.hollow or args.profile or args.redis_url:
            parser.error(
                "--find-rate runs the service and the hollow itself, each on a private Redis:"
                " no --storm, --hollow, --profile or --redis-url"
            )
        if args.workers != 1:
            parser.error("--find-rate runs one worker a server (the hollow needs one)")
        args.sockets = args.sockets or 2000
        return args
    if args.storm is not None:
        if args.hollow or args.profile:
            parser.error("--storm runs the service itself, without --hollow or --profile")
        if args.sockets is not None and args.sockets < args.storm:
            parser.error("--sockets (the community's households) must be at least --storm")
        return args
    args.sockets = args.sockets or 2000
    if args.hollow and args.workers != 1:
        parser.error("--hollow runs one worker (its event ids are counted in its process)")
    if args.census and args.workers != 1:
        parser.error("--census counts inside one worker")
    return args


def main() -> int:
    """Run the benchmark (or the storm, or the search) once and print its figures."""
    args = _arguments()
    procs.raise_nofile()
    run = rate.run if args.find_rate else _run if args.storm is None else storm.run
    if args.postgres is None:
        return run(args, database_url=None)
    with procs.fresh_postgres(args.postgres) as database_url:
        return run(args, database_url=database_url)


def _run(args: argparse.Namespace, *, database_url: str | None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tenwatch-bench-"))
    database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    redis_process: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    children: list[mp.process.BaseProcess] = []
    try:
        print(f"seeding {args.sockets} households and {args.boards} board tokens in {workdir} …")
        started = time.perf_counter()
        seeded = asyncio.run(
            seed(
                database_url, households=args.sockets, boards=args.boards, phones=not args.no_phones
            )
        )
        seed_seconds = time.perf_counter() - started
        print(
            f"  {len(seeded.households)} households, {seeded.groups} groups in {seed_seconds:.1f} s"
        )

        if args.redis_url:
            redis_url = args.redis_url
        else:
            redis_process, redis_url = procs.start_redis(workdir)
        print(f"floor: raw Redis publish → subscribe at {args.rate:g}/s for {args.duration:g} s …")
        process, conn = procs.child(floor.main, (redis_url, args.rate, args.duration), "floor")
        children.append(process)
        floor_result = procs.expect(conn, "done", process, args.duration + 30)
        process.join(10)

        print("starting the hollow service …" if args.hollow else "starting the service …")
        served_app = hollow.options(seeded, workdir) if args.hollow else {}
        if args.census:
            served_app = {
                "app": "bench.census:create_app",
                "env": {
                    **served_app.get("env", {}),
                    "TENWATCH_CENSUS_APP": served_app.get("app", "server.web.app:create_app"),
                },
            }
        server, base = procs.start_server(
            database_url=database_url,
            redis_url=redis_url,
            log=workdir / "server.log",
            workers=args.workers,
            **served_app,
        )
        if args.census:
            httpx.post(f"{base}/census/mark", timeout=300, trust_env=False).raise_for_status()
        served = psutil.Process(server.pid)
        rss_before = procs.rss_mib(served)
        plan = clients.Plan(
            base=base,
            households=seeded.households,
            boards=seeded.boards,
            deflate=not args.no_deflate,
        )
        print(f"connecting {len(seeded.households) + len(seeded.boards)} sockets …")
        process, conn = procs.child(clients.main, (plan,), "client")
        children.append(process)
        connected = procs.expect(conn, "connected", process, 300)
        rss_after = procs.rss_mib(served)
        if args.census:
            _census(base, connected["sockets"])
        print(f"  connected in {connected['connect_seconds']:.1f} s; pressing …")
        conn.send(("press", (args.rate, args.duration)))
        procs.expect(conn, "pressing", process, 30)
        cpu0, wall0 = procs.cpu_seconds(served), time.perf_counter()
        spy = procs.profile(server.pid, args.duration, PROFILE) if args.profile else None
        procs.expect(conn, "pressed", process, args.duration + 60)
        cpu1, wall1 = procs.cpu_seconds(served), time.perf_counter()
        result = procs.expect(conn, "step", process, 60)
        result["connect_seconds"] = connected["connect_seconds"]
        conn.send(("close", None))
        procs.expect(conn, "done", process, 60)
        if spy is not None:
            spy.wait(30)
            print(f"server profile (collapsed stacks) written to {PROFILE}")
        process.join(10)

        figures = _figures(
            args,
            seeded,
            floor_result,
            result,
            rss=(rss_before, rss_after, connected["sockets"]),
            cpu=(cpu1 - cpu0) / (wall1 - wall0),
            seed_seconds=seed_seconds,
        )
        print(report.render(figures))
        report.save(figures, RESULTS)
        print(f"figures written to {RESULTS}")
        return 0
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
        procs.stop(server)
        procs.stop(redis_process)
        procs.clean(workdir, keep=args.keep)


def _census(base: str, sockets: int) -> None:
    """Ask the census what the sockets added; print it and keep it beside latest.json."""
    answer = httpx.get(f"{base}/census/diff", params={"sockets": sockets}, timeout=600)
    found = answer.raise_for_status().json()
    print(census.render(found))
    CENSUS.parent.mkdir(parents=True, exist_ok=True)
    CENSUS.write_text(json.dumps(found, indent=1))
    print(f"census written to {CENSUS}")


def _figures(
    args: argparse.Namespace,
    seeded: Any,
    floor_result: dict[str, Any],
    result: dict[str, Any],
    *,
    rss: tuple[float, float, int],
    cpu: float,
    seed_seconds: float,
) -> dict[str, Any]:
    rss_before, rss_after, sockets = rss
    lost = result["expected"] - result["delivered"]
    latency = {
        "accepted": report.quantiles(result["accepted_s"]),
        "neighbour": report.quantiles(result["neighbour_s"]),
        "board": report.quantiles(result["board_s"]),
    }
    kib = (rss_after - rss_before) * 1024 / max(sockets, 1)
    p99 = latency["neighbour"]["p99"]
    return {
        "run": {
            **report.setting(args, seeded),
            "sockets": sockets,
            "rate": args.rate,
            "duration": args.duration,
            "workers": args.workers,
            "hollow": args.hollow,
            "seed_seconds": seed_seconds,
        },
        "latency_ms": latency,
        "floor_ms": report.quantiles(floor_result["latency_s"]),
        "floor_counts": {"sent": floor_result["sent"], "received": floor_result["received"]},
        "counts": {
            "presses": result["presses"],
            "press_errors": result["press_errors"],
            "expected": result["expected"],
            "delivered": result["delivered"],
            "lost": lost,
            "duplicates": result["duplicates"],
            "closed_by_server": result["closed_by_server"],
            "leaked": result["leaked"],
            "stray_events": result["stray_events"],
        },
        "server": {
            "rss_before_mib": rss_before,
            "rss_after_mib": rss_after,
            "kib_per_socket": kib,
            "cpu_percent": 100 * cpu,
        },
        "client": {
            "cpu_percent": result["client_cpu_percent"],
            "generator_max_lag_ms": result["generator_max_lag_ms"],
            "connect_seconds": result["connect_seconds"],
        },
        "targets": {
            f"p99 ≤ {TARGET_P99_MS:g} ms": p99 is not None and p99 <= TARGET_P99_MS,
            "0 lost": lost == 0 and not result["press_errors"],
            f"≤ {TARGET_KIB_PER_SOCKET:g} KiB/socket": kib <= TARGET_KIB_PER_SOCKET,
        },
    }


if __name__ == "__main__":
    sys.exit(main())
