"""The `tenwatch` command: serve, migrate, back up and restore, import households, list groups,
issue tokens."""

import asyncio
import logging.config
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from groups import directory, duty, importer, pins
from notifier.bus import create_bus
from notifier.bus import format as bus_format
from server import accounts, demo, migrate_check
from server.alarms import policy
from server.migrate import known, upgrade
from server.runtime import logs
from server.settings import Settings, get_settings
from server.signin import revocation, sessions
from storage import backup
from storage.db import AsyncSession, create_engine, create_sessionmaker, utcnow

app = typer.Typer(help="TenWatch 十户联防: one household asks, many come.", no_args_is_help=True)
token_app = typer.Typer(help="Issue credentials for residents and patrol members.")
app.add_typer(token_app, name="token")
duty_app = typer.Typer(help="The patrol's duty roster: weekly shifts and one-off overrides.")
app.add_typer(duty_app, name="duty")
console = Console()
T = TypeVar("T")

Community = Annotated[str, typer.Option(help="The community's name.")]


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run work in one session on the configured database, committing at the end."""

    async def main() -> T:
        url = get_settings().database_url
        await _upgrade_on_start(get_settings())
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except LookupError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(1) from exc


async def _upgrade_on_start(settings: Settings) -> None:
    """Migrate before a command or the service runs. A deployment of several processes (it has
    Redis) may be mid-upgrade, with processes of the release before still serving: there, a
    pending contract step is left to `tenwatch migrate` and nothing runs (LookupError)."""
    if settings.redis_url is None:  # one process alone on its schema
        await upgrade(settings.database_url)
        return
    unsafe = await migrate_check.upgrade_unless_contract(settings.database_url)
    if unsafe:
        raise LookupError(
            f"not migrating: {', '.join(v.revision for v in unsafe)} would break the processes"
            " of the release before (`tenwatch migrate --check` says why); once none runs,"
            " run `tenwatch migrate` (docs/operate.md, Upgrades)"
        )


APP_FACTORY = "server.web.app:create_app"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the sockets, for `serve` and the bench alike (bench/README.md,
    "Memory per socket"): websockets' sans-I/O protocol (the leanest socket of uvicorn's
    implementations), no compression (≈ 36 KiB of zlib state a socket), a bounded client
    message, the protocol ping the settings ask for, and how long a shutdown waits for the
    requests in flight."""
    return {
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": settings.ws_ping_seconds or None,
        "ws_ping_timeout": settings.ws_ping_seconds or None,
        "proxy_headers": True,
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds or None,
    }


def logging_options(settings: Settings) -> dict[str, Any]:
    """How `serve` logs (docs/operate.md, "Logs"): the settings' format and level for every
    line of every worker, and no uvicorn access log (the app writes one line a request)."""
    return {
        "log_config": logs.config(output=settings.log_format, level=settings.log_level),
        "access_log": False,
    }


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes on one port (more than one needs TENWATCH_REDIS_URL; each"
            " holds up to its open-file limit of sockets)."
        ),
    ] = 1,
    demo_data: Annotated[bool, typer.Option("--demo", help="Seed a demo community.")] = False,
) -> None:
    """Run the service (migrating the database first)."""
    settings = get_settings()
    if workers > 1 and settings.redis_url is None:
        console.print("[red]--workers above 1 needs TENWATCH_REDIS_URL (one bus for all)[/red]")
        raise typer.Exit(1)
    options = {**uvicorn_options(settings), **logging_options(settings)}
    logging.config.dictConfig(options["log_config"])  # the migration's lines too
    try:
        asyncio.run(_upgrade_on_start(settings))
    except LookupError as exc:
        console.print(exc.args[0], style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    if demo_data:
        url = f"http://{host}:{port}/signin"
        people = _run(demo.seed)
        console.print(
            f"[bold]Demo community seeded.[/bold] Sign in at [link={url}]{url}[/link] with one"
            " of these phones (the sign-in code is printed here, in this terminal):"
        )
        for label, phone in people:
            console.print(f"  {label}: {phone}")
        console.print(
            f"  household PINs: cancel {demo.DEMO_PIN}, duress {demo.DEMO_DURESS_PIN}; "
            "the patrol is on duty around the clock"
        )
    if workers > 1:
        # Each worker imports the app itself, reading the same settings from the environment.
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            workers=workers,
            host=host,
            port=port,
            **options,
        )
        return
    from server.web.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, **options)


@app.command()
def migrate(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Migrate nothing: say whether each pending migration is safe to run while"
            " processes of the release before still serve (exit 0 safe, 1 not).",
        ),
    ] = False,
) -> None:
    """Bring the database schema up to date."""
    if check:
        _check_migrations()
        return
    asyncio.run(upgrade(get_settings().database_url))
    console.print("database is up to date")


@app.command("backup")
def backup_database(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.", dir_okay=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Back up the SQLite database to FILE while the service runs (PostgreSQL: pg_dump,
    docs/operate.md)."""
    try:
        path = backup.sqlite_path(get_settings().database_url)
        written = backup.backup(database=path, target=file, force=force)
    except backup.Refused as exc:
        _say(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    _say(f"backed up {written}; integrity check ok")


@app.command("restore")
def restore_database(
    file: Annotated[Path, typer.Argument(help="The backup to restore.", dir_okay=False)],
) -> None:
    """Replace the SQLite database with the backup FILE and migrate it up; stop the service
    first. The replaced database is kept beside it (<name>.before-restore-<time>)."""
    url = get_settings().database_url
    try:
        restored = backup.restore(source=file, database=backup.sqlite_path(url), known=known)
    except backup.Refused as exc:
        _say(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    asyncio.run(upgrade(url))
    if restored.kept is not None:
        _say(f"the database it replaced is kept as {restored.kept}")
    _say(f"restored {restored.backup}; the schema is up to date")


def _say(text: str) -> None:
    """A line with paths in it: unwrapped (to copy), uncoloured but for its markup."""
    console.print(text, highlight=False, soft_wrap=True)


def _check_migrations() -> None:
    """Print a verdict on each pending migration; exit 1 if any is unsafe under live traffic."""
    heads, verdicts = asyncio.run(migrate_check.check(get_settings().database_url))
    if not verdicts:
        console.print(f"nothing to migrate: the database is at {', '.join(heads)}")
        return
    if not heads:
        console.print("the database is empty (no process can be serving it): `tenwatch migrate`")
        return
    for verdict in verdicts:
        said = "safe under live traffic" if verdict.safe else "UNSAFE under live traffic"
        console.print(
            f"{verdict.revision}  {verdict.phase or '?'}  {said}: {verdict.title}",
            markup=False,
            soft_wrap=True,
        )
        for reason in verdict.reasons:
            console.print(f"    {reason}", markup=False, soft_wrap=True)
    if not all(v.safe for v in verdicts):
        console.print(
            "run the unsafe ones only once every process runs the new release"
            " (docs/operate.md, Upgrades)"
        )
        raise typer.Exit(1)


@app.command()
def vapid() -> None:
    """Print a fresh VAPID key pair for Web Push, as the .env lines that turn push on."""
    from notifier.push.webpush import new_keys

    private, public = new_keys()
    print(f"TENWATCH_VAPID_PRIVATE_KEY={private}")
    print(f"TENWATCH_VAPID_PUBLIC_KEY={public}")
    print("TENWATCH_VAPID_SUBJECT=mailto:office@example.org")


@app.command("import")
def import_households(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    community: Community = "default",
) -> None:
    """Register households, residents and staff from a CSV (登记造册), then group them in tens."""
    with Progress(console=console) as progress:
        task = progress.add_task("importing", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        async def work(session: AsyncSession) -> importer.ImportReport:
            return await importer.import_csv(
                session, source=file, community=community, progress=advance
            )

        try:
            report = _run(work)
        except (importer.Unreadable, OSError) as exc:
            progress.stop()
            reason = exc if isinstance(exc, importer.Unreadable) else exc.strerror
            console.print(f"[red]cannot import {file.name}[/red]: {reason}; nothing was imported")
            raise typer.Exit(1) from exc
        except importer.ImportFailed as exc:
            progress.stop()
            for error in exc.errors:
                console.print(f"[red]row {error.row}[/red]: {error.reason}")
            console.print(f"[red]nothing was imported[/red] ({len(exc.errors)} bad rows)")
            raise typer.Exit(1) from exc
    console.print(report)


@app.command("groups")
def list_groups(community: Community = "default") -> None:
    """Show the ten-household groups of a community and their members."""

    async def work(session: AsyncSession) -> list[directory.GroupRoster]:
        found = await demo.get_community(session, name=community)
        return await directory.list_groups(session, community_id=found.id)

    table = Table("group", "leader", "households", "members")
    for roster in _run(work):
        leader = roster.leader.address if roster.leader else "—"
        table.add_row(
            roster.group.name,
            leader,
            str(len(roster.members)),
            " ".join(h.address for h in roster.members),
        )
    console.print(table)


@app.command("staff")
def add_staff(
    name: Annotated[str, typer.Argument(help="The person's name.")],
    phone: Annotated[str, typer.Argument(help="Their phone, E.164 (+8613900000001).")],
    role: Annotated[
        str, typer.Option(help="patrol_member, patrol_leader, grid_manager or police_office.")
    ] = "patrol_member",
    grid: Annotated[str | None, typer.Option(help="The grid they look after.")] = None,
    community: Community = "default",
) -> None:
    """Register a patrol member or leader, grid manager or police-office contact."""

    async def work(session: AsyncSession) -> None:
        found = await directory.get_or_create_community(session, name=community)
        await directory.add_staff(
            session, community_id=found.id, name=name, phone=phone, role=role, grid=grid
        )

    try:
        _run(work)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"registered {name} ({role}) in {community}")


Days = Annotated[
    float | None,
    typer.Option(help="How long it lasts (0: until revoked); TENWATCH_TOKEN_DAYS if omitted."),
]
Label = Annotated[str | None, typer.Option(help="What it is for, shown in `token list`.")]


def _ends(days: float | None) -> datetime | None:
    return accounts.ends(now=utcnow(), days=get_settings().token_days if days is None else days)


@token_app.command("resident")
def token_resident(
    address: Annotated[str, typer.Argument(help="The household, like B11-1-301.")],
    name: Annotated[str | None, typer.Option(help="Which resident; the first if omitted.")] = None,
    community: Community = "default",
    days: Days = None,
    label: Label = None,
) -> None:
    """Issue an integration token for a resident of a household (people sign in by phone)."""

    async def work(session: AsyncSession) -> str:
        return await demo.resident_token(
            session,
            community=community,
            address=address,
            name=name,
            expires_at=_ends(days),
            label=label,
        )

    console.print(_run(work))


@token_app.command("staff")
def token_staff(
    phone: Annotated[str, typer.Argument(help="The staff member's phone, E.164.")],
    community: Community = "default",
    days: Days = None,
    label: Label = None,
) -> None:
    """Issue an integration token for a staff member (a wall screen, a script)."""

    async def work(session: AsyncSession) -> str:
        return await demo.staff_token(
            session, community=community, phone=phone, expires_at=_ends(days), label=label
        )

    console.print(_run(work))


@token_app.command("list")
def token_list(community: Community = "default") -> None:
    """Show the community's tokens and device sessions in force (never their secrets)."""

    async def work(session: AsyncSession) -> list[sessions.Listed]:
        found = await demo.get_community(session, name=community)
        return await sessions.listed(session, community_id=found.id, now=utcnow())

    table = Table("id", "kind", "who", "label / device", "created", "ends")
    for row in _run(work):
        ends = row.expires_at.strftime("%Y-%m-%d %H:%M") if row.expires_at else "never"
        created = row.created_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(str(row.id), row.kind, row.who, row.device or "", created, ends)
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    credential_id: Annotated[int, typer.Argument(help="The id `token list` shows.")],
) -> None:
    """Revoke a token or session. With Redis every process forgets it and closes its sockets
    at once; embedded (no bus between this command and the service), its requests fail
    within TENWATCH_PRINCIPAL_CACHE_SECONDS and an open socket stays until it reconnects —
    revoke from the page or the API for at once."""

    async def work(session: AsyncSession) -> list[int]:
        return await sessions.revoke(session, credential_ids=[credential_id], now=utcnow())

    revoked = _run(work)
    if not revoked:
        console.print(f"[red]no token or session {credential_id} in force[/red]")
        raise typer.Exit(1)
    asyncio.run(_announce(revocation.message(revoked)))
    console.print(f"revoked {credential_id}")


async def _announce(message: str) -> None:
    """Tell every running process of the deployment (through Redis, when it has one)."""
    settings = get_settings()
    if settings.redis_url is None:
        return
    bus = create_bus(settings.bus_url)
    await bus.connect(lambda _channel, _message: None)
    try:
        await bus.publish(
            [revocation.CHANNEL], bus_format.write(message, version=settings.bus_format)
        )
    finally:
        await bus.disconnect()


@app.command("pin")
def set_pin(
    address: Annotated[str, typer.Argument(help="The household, like B11-1-301.")],
    pin: Annotated[str, typer.Option(help="The cancel PIN, 4 to 8 digits.")],
    duress: Annotated[str, typer.Option(help="The duress PIN, different from the cancel PIN.")],
    community: Community = "default",
) -> None:
    """Set a household's cancel PIN and duress PIN."""
    if pin == duress:
        console.print("[red]the duress PIN must differ from the cancel PIN[/red]")
        raise typer.Exit(1)

    async def work(session: AsyncSession) -> None:
        found = await demo.get_community(session, name=community)
        household = await directory.find_household(session, community_id=found.id, address=address)
        if household is None:
            raise LookupError(f"no household {address} in {community}")
        household.pin_hash, household.duress_pin_hash = pins.hash_pin(pin), pins.hash_pin(duress)

    try:
        _run(work)
    except pins.BadPin as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"PINs set for {address}")


@app.command("policy")
def escalation_policy(
    change: Annotated[
        list[str] | None, typer.Argument(help="Fields to change, like quorum=3 patrol_seconds=60.")
    ] = None,
    community: Community = "default",
) -> None:
    """Show the community's escalation policy, or change some of its fields."""

    async def work(session: AsyncSession) -> policy.Policy:
        found = await demo.get_community(session, name=community)
        if not change:
            return await policy.get(session, community_id=found.id)
        fields = {}
        for item in change:
            name, _, value = item.partition("=")
            if not value.isdigit():
                raise ValueError(f"{item!r}: give name=whole number")
            fields[name] = int(value)
        return await policy.update(session, community_id=found.id, **fields)

    try:
        current = _run(work)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    table = Table("field", "value")
    for name, value in current.as_dict().items():
        table.add_row(name, str(value))
    console.print(table)


@duty_app.command("shift")
def duty_shift(
    phone: Annotated[str, typer.Argument(help="The patrol member's phone, E.164.")],
    days: Annotated[str, typer.Option(help="mon, mon-fri, sat,sun or daily.")] = "daily",
    start: Annotated[str, typer.Option("--from", help="Local start time, like 08:00.")] = "08:00",
    end: Annotated[
        str, typer.Option("--to", help="Local end time (next day if earlier).")
    ] = "20:00",
    community: Community = "default",
) -> None:
    """Put a patrol member on a weekly shift."""

    async def work(session: AsyncSession) -> int:
        found = await demo.get_community(session, name=community)
        member = await duty.find_staff(session, community_id=found.id, phone=phone)
        shifts = await duty.add_shift(
            session,
            staff=member,
            days=duty.parse_days(days),
            starts=duty.parse_time(start),
            ends=duty.parse_time(end),
        )
        return len(shifts)

    try:
        count = _run(work)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{phone}: {count} weekly shifts {start}–{end}")


@duty_app.command("override")
def duty_override(
    phone: Annotated[str, typer.Argument(help="The patrol member's phone, E.164.")],
    start: Annotated[datetime, typer.Option("--from", help="When it starts (local time).")],
    end: Annotated[datetime, typer.Option("--to", help="When it ends (local time).")],
    off: Annotated[bool, typer.Option("--off", help="Off duty rather than on.")] = False,
    community: Community = "default",
) -> None:
    """Put a patrol member on (or, with --off, off) duty for a while."""

    async def work(session: AsyncSession) -> None:
        found = await demo.get_community(session, name=community)
        member = await duty.find_staff(session, community_id=found.id, phone=phone)
        zone = ZoneInfo(found.timezone)
        await duty.add_override(
            session,
            staff=member,
            starts_at=start.replace(tzinfo=start.tzinfo or zone),
            ends_at=end.replace(tzinfo=end.tzinfo or zone),
            on_duty=not off,
        )

    try:
        _run(work)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{phone}: {'off' if off else 'on'} duty from {start} to {end}")


@duty_app.command("now")
def duty_now(community: Community = "default") -> None:
    """Who of the patrol is on duty now."""

    async def work(session: AsyncSession) -> list[tuple[str, str, str]]:
        found = await demo.get_community(session, name=community)
        members = await duty.on_duty(
            session, community_id=found.id, at=utcnow(), timezone=found.timezone
        )
        return [(m.name, m.role, m.phone) for m in members]

    table = Table("name", "role", "phone")
    for row in _run(work):
        table.add_row(*row)
    console.print(table)


def main() -> None:
    """Entry point of `python -m server`."""
    app()


number_app = typer.Typer(help="Alarm numbers: the phone numbers people call or text for help.")
app.add_typer(number_app, name="number")


@number_app.command("add")
def number_add(
    number: Annotated[str, typer.Argument(help="The Twilio number, E.164 (+8610…).")],
    household: Annotated[
        str | None,
        typer.Option(help="Make it the number of this household's group (B11-1-301)."),
    ] = None,
    community: Community = "default",
) -> None:
    """Register an alarm number: a group's (with --household), or the whole community's."""

    async def work(session: AsyncSession) -> str:
        found = await demo.get_community(session, name=community)
        group_id = None
        if household is not None:
            home = await directory.find_household(session, community_id=found.id, address=household)
            if home is None:
                raise LookupError(f"no household {household} in {community}")
            if home.group_id is None:
                raise LookupError(f"{household} is not in a group yet")
            group_id = home.group_id
        await directory.add_alarm_number(
            session, community_id=found.id, number=number, group_id=group_id
        )
        return f"the group of {household}" if group_id else f"all of {community}"

    try:
        serves = _run(work)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{number} is an alarm number for {serves}")


@number_app.command("list")
def number_list(community: Community = "default") -> None:
    """Show the community's alarm numbers and whom each serves."""

    async def work(session: AsyncSession) -> list[tuple[str, str]]:
        found = await demo.get_community(session, name=community)
        rows = await directory.list_alarm_numbers(session, community_id=found.id)
        return [(n.number, name or "(whole community)") for n, name in rows]

    table = Table("number", "serves")
    for number, serves in _run(work):
        table.add_row(number, serves)
    console.print(table)
