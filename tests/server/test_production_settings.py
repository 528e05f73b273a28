"""Production refuses the examples' placeholders and a public URL nobody can reach; a URL's
password never shows when the settings are printed or dumped; the deployment files trust only
what they must."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REAL = {
    "environment": "production",
    "database_url": "postgresql+asyncpg://tenwatch:Vq3-real-9x@db.internal:5432/tenwatch",
    "redis_url": "redis://:r3d1s-real@redis.internal:6379/0",
    "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
    "twilio_auth_token": "f00dfeedf00dfeedf00dfeedf00dfeed",
    "twilio_from": "+8610000000",
    "public_base_url": "https://tenwatch.fengle.example.cn",
}


def examples() -> dict[str, str]:
    """Every setting .env.example shows, commented out or not, as written there."""
    found = re.findall(
        r"^#? ?TENWATCH_([A-Z0-9_]+)=(\S+)$", (ROOT / ".env.example").read_text(), re.M
    )
    return {name.lower(): value for name, value in found}


def test_production_takes_real_settings() -> None:
    settings = Settings(_env_file=None, **REAL)  # type: ignore[arg-type]
    assert settings.sms_url == "twilio://"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("twilio_auth_token", "TWILIO_AUTH_TOKEN is the .env.example placeholder"),
        ("twilio_account_sid", "TWILIO_ACCOUNT_SID is the .env.example placeholder"),
        ("twilio_messaging_service_sid", "MESSAGING_SERVICE_SID is the .env.example placeholder"),
        ("database_url", "DATABASE_URL"),
        ("public_base_url", "PUBLIC_BASE_URL must be the https://"),
    ],
)
def test_production_refuses_each_example_placeholder_by_name(name: str, reason: str) -> None:
    example = examples()[name]
    with pytest.raises(ValidationError, match=re.escape(reason)):
        Settings(_env_file=None, **{**REAL, name: example})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    ["http://tenwatch.example.cn", "https://localhost:8000", "https://127.0.0.1", "https://[::1]"],
)
def test_production_refuses_a_public_url_that_is_not_https_or_is_this_machine(url: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        Settings(_env_file=None, **{**REAL, "public_base_url": url})  # type: ignore[arg-type]


def test_development_takes_the_examples_as_they_are() -> None:
    shown = {k: v for k, v in examples().items() if k != "environment"}
    settings = Settings(_env_file=None, environment="development", **shown)  # type: ignore[arg-type]
    assert settings.twilio_auth_token is not None


def test_a_urls_password_is_hidden_when_printed_or_dumped_and_kept_for_use() -> None:
    settings = Settings(_env_file=None, **REAL)  # type: ignore[arg-type]
    for shown in (repr(settings), str(settings), str(settings.model_dump())):
        assert "Vq3-real-9x" not in shown
        assert "r3d1s-real" not in shown
        assert "tenwatch:***@db.internal" in shown
    assert settings.database_url == REAL["database_url"]
    assert f"{settings.redis_url}" == REAL["redis_url"]


def test_compose_reads_the_database_password_from_the_environment() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "tenwatch:tenwatch@" not in compose
    assert re.search(r"POSTGRES_PASSWORD: \$\{POSTGRES_PASSWORD:\?", compose)
    assert "${POSTGRES_PASSWORD:?" in compose.split("TENWATCH_DATABASE_URL:", 1)[1].split("\n")[0]


def test_the_image_trusts_forwarded_headers_only_from_configured_proxies() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--forwarded-allow-ips" not in dockerfile
    assert re.search(r"^ENV FORWARDED_ALLOW_IPS=127\.0\.0\.1$", dockerfile, re.M)
    compose = (ROOT / "docker-compose.yml").read_text()
    proxy = re.search(r"ipv4_address: ([0-9.]+)", compose)
    assert proxy is not None
    assert f"FORWARDED_ALLOW_IPS: ${{FORWARDED_ALLOW_IPS:-{proxy.group(1)}}}" in compose
