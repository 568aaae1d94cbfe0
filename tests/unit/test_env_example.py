""".env.example against the code: every setting read is listed, with the default it really has."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.config import Settings
from tests.support.stack import ROOT, procfile

LISTED = re.compile(r"^# ?([A-Z][A-Z0-9_]*)=(\S*)", re.MULTILINE)
PROCFILE_DEFAULT = re.compile(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}")
READ_IN_GUNICORN = re.compile(r"os\.environ(?:\.get\(|\[)\"([A-Z][A-Z0-9_]*)\"")


class Recording(dict[str, str]):
    """An environment that remembers every name it was asked about."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def _listed() -> dict[str, str]:
    return dict(LISTED.findall((ROOT / ".env.example").read_text()))


def _read_by_settings() -> set[str]:
    env = Recording()
    Settings.from_env(env)
    return env.asked


def _procfile_defaults() -> dict[str, str]:
    return dict(PROCFILE_DEFAULT.findall("\n".join(procfile().values())))


def test_every_setting_the_code_reads_is_listed_and_nothing_else() -> None:
    gunicorn = set(READ_IN_GUNICORN.findall((ROOT / "gunicorn.conf.py").read_text()))
    read = _read_by_settings() | set(_procfile_defaults()) | gunicorn
    # OTEL_* are the OpenTelemetry SDK's own settings (README "Tracing"), listed for reference.
    assert {name for name in _listed() if not name.startswith("OTEL_")} == read


@pytest.mark.parametrize("name", sorted(_read_by_settings()))
def test_the_listed_value_is_the_default_settings_uses(name: str) -> None:
    assert Settings.from_env({name: _listed()[name]}) == Settings.from_env({})


@pytest.mark.parametrize("name", sorted(_procfile_defaults()))
def test_the_listed_value_is_the_procfile_default(name: str) -> None:
    assert _listed()[name] == _procfile_defaults()[name]
