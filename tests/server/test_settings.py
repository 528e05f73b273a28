"""The settings a user can read about are the settings there are."""

import re
from pathlib import Path

from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _named(path: Path) -> set[str]:
    return {name.lower() for name in re.findall(r"\bTENWATCH_([A-Z0-9_]+)", path.read_text())}


def test_env_example_names_every_setting_and_no_other() -> None:
    named = _named(ROOT / ".env.example")
    assert set(Settings.model_fields) - named == set(), "settings .env.example does not show"
    assert named - set(Settings.model_fields) == set(), ".env.example names unknown settings"


def test_env_example_as_written_is_valid() -> None:
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.outbox_batch_size == 50
    assert settings.sqlite_checkpoint_seconds == 1.0


def test_compose_names_only_real_settings() -> None:
    assert _named(ROOT / "docker-compose.yml") - set(Settings.model_fields) == set()
