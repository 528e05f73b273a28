"""The API as its own OpenAPI describes it, fuzzed by schemathesis against a live uvicorn server
with an admin's and a resident's credentials: no answer is a 5xx, and every answer matches the
schema it declares.

Bounded to stay around a minute or two: few examples an operation, no deadline per example
(the server is real; speed is measured in bench/, not here). The Twilio webhooks are another
part's contract (signed requests from Twilio) and are left out."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from server.settings import Settings
from tests.harness import Seed, running, seed

EXAMPLES = 60


class Live:
    """The service, served by uvicorn in a thread of its own (schemathesis calls it
    synchronously), on a seeded SQLite copy."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.base = ""
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        async with running(Settings(database_url=self.url, outbox_poll_seconds=0.2)) as base:
            self.base = base
            self._ready.set()
            while not self._stop.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    def __enter__(self) -> Live:
        self._thread.start()
        assert self._ready.wait(30), "the server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Live]:
    path = tmp_path_factory.mktemp("fuzz") / "tenwatch.db"
    shutil.copyfile(sqlite_template, path)
    with Live(f"sqlite+aiosqlite:///{path}") as server:
        yield server


@pytest.fixture(scope="module")
def people(live: Live) -> Seed:
    return asyncio.run(seed(live.url))


def test_no_request_gets_a_5xx_or_an_answer_its_schema_does_not_describe(
    live: Live, people: Seed
) -> None:
    api = schemathesis.openapi.from_url(f"{live.base}/openapi.json").exclude(path_regex="^/twilio")
    tokens = (people.staff["admin"], people.households["B11-1-101"])
    failures: list[str] = []
    for found in api.get_all_operations():
        assert isinstance(found, Ok), found
        operation = found.ok()
        cases = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case[Any]) -> None:
            for token in tokens:
                case.call_and_validate(
                    base_url=live.base,
                    headers={"Authorization": f"Bearer {token}"},
                    checks=[not_a_server_error, response_schema_conformance],
                    timeout=30,
                )

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is fuzzed; told together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
