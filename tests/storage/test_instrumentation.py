"""A press seen by a tracer's engine listeners: every statement comes with the cursor and the
execution context that OpenTelemetry's SQLAlchemy instrumentation relies on."""

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from server.settings import Settings
from storage import db
from tests.harness import press, running, seed


@dataclass
class Tracer:
    """Listeners shaped like OpenTelemetry's `EngineTracer`: a span is started before each
    statement and stashed on its execution context, and ended after it from there."""

    started: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def install(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self.before, retval=True)
        event.listen(engine.sync_engine, "after_cursor_execute", self.after)
        event.listen(engine.sync_engine, "handle_error", self.failed)

    def before(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        params: Any,
        context: Any,
        executemany: bool,
    ) -> tuple[str, Any]:
        try:
            # What the instrumentation reads: the options (for its commenter), the engine's URL,
            # the cursor (for the server's address and database), then its span on the context.
            context.execution_options.get("opentelemetry_values", True)
            assert conn.engine.url.drivername
            assert cursor is not None
            getattr(getattr(cursor, "connection", None), "info", None)
            context._otel_span = (statement, time.perf_counter())
            self.started.append(statement)
        except BaseException as error:
            self.errors.append(error)
            raise
        return statement, params

    def after(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        params: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        try:
            span = context._otel_span
            assert span[0] == statement, "ended with the span its own statement started"
            del context._otel_span
            self.ended.append(statement)
        except BaseException as error:
            self.errors.append(error)
            raise

    def failed(self, context: Any) -> None:
        self.errors.append(context.original_exception)


async def test_a_tracer_sees_every_statement_of_a_press_with_its_context(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed(db_url)
    tracer = Tracer()

    def instrumented(url: str, **kwargs: Any) -> AsyncEngine:
        engine = db.create_engine(url, **kwargs)
        tracer.install(engine)
        return engine

    monkeypatch.setattr("server.web.app.create_engine", instrumented)
    settings = Settings(database_url=db_url, outbox_poll_seconds=60, scheduler_poll_seconds=60)
    async with running(settings) as base:
        before = len(tracer.started)
        response = await press(base, seeded.households["B11-1-101"])
        assert response.status_code == 201, response.text
        seen = tracer.started[before:]

    assert not tracer.errors
    assert Counter(tracer.ended) == Counter(tracer.started), "each statement's span ended"
    inserts = {s.split()[2] for s in seen if s.upper().startswith("INSERT INTO")}
    assert {"alerts", "alert_events", "outbox", "alert_deadlines"} <= inserts
    assert len(seen) >= 10, seen
