"""The operator CLI, run as a user would: `flask --app app ...` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import Settings
from app.db import make_engine
from app.ids import hash_token
from app.models import ApiKey, ManagementToken
from tests.support.firstrun import bootstrap_as_start_does, checkout
from tests.support.stack import ROOT


def _run(tmp_path: Path, *args: str, private: bool = False) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOOKRELAY_DATA_DIR": str(tmp_path),
        "HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS": "true" if private else "false",
    }
    env.pop("DATABASE_URL", None)
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    result = _run(tmp_path, "alembic", "upgrade", "head")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_bootstrap_prints_one_json_object_and_stores_only_hashes(migrated: Path) -> None:
    result = _run(migrated, "flask", "--app", "app", "bootstrap", "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"workspaceId", "environmentId", "apiKey", "managementToken"}
    assert created["apiKey"].startswith("nhk_us_")
    assert created["managementToken"].startswith("nhm_")
    engine = make_engine(Settings.from_env({"HOOKRELAY_DATA_DIR": str(migrated)}).database_url)
    with engine.connect() as conn:
        stored = conn.execute(select(ApiKey.token_hash)).scalar_one()
        token_hash = conn.execute(select(ManagementToken.token_hash)).scalar_one()
    engine.dispose()
    assert stored == hash_token(created["apiKey"])
    assert token_hash == hash_token(created["managementToken"])


def _create_endpoint(migrated: Path, url: str, private: bool) -> subprocess.CompletedProcess[str]:
    workspace = json.loads(_run(migrated, "flask", "--app", "app", "bootstrap", "--json").stdout)
    args = ["endpoint", "create", "--workspace", workspace["workspaceId"], "--url", url, "--json"]
    return _run(migrated, "flask", "--app", "app", *args, private=private)


def test_endpoint_create_prints_the_endpoint_with_its_secret(migrated: Path) -> None:
    result = _create_endpoint(migrated, "http://127.0.0.1:9000/hook", private=True)
    assert result.returncode == 0, result.stderr
    endpoint = json.loads(result.stdout)
    assert endpoint["id"].startswith("ep_") and endpoint["secret"].startswith("whsec_")
    assert endpoint["url"] == "http://127.0.0.1:9000/hook" and endpoint["isActive"] is True


def test_endpoint_create_refuses_private_urls_by_default(migrated: Path) -> None:
    result = _create_endpoint(migrated, "http://169.254.169.254/latest", private=False)
    assert result.returncode != 0
    assert "private or reserved address" in result.stderr


def test_operator_commands_issue_list_revoke_and_maintain(migrated: Path) -> None:
    def flask(*args: str) -> str:
        result = _run(migrated, "flask", "--app", "app", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    workspace_id = json.loads(flask("workspace", "create", "--json"))["workspaceId"]
    token = json.loads(flask("token", "create", "--workspace", workspace_id, "--json"))["token"]
    assert token.startswith("nhm_")
    assert flask("key", "create", "--workspace", workspace_id).startswith("nhk_us_")
    keys = json.loads(flask("key", "list", "--workspace", workspace_id, "--json"))
    assert len(keys) == 2 and all(k["revoked_at"] is None for k in keys)
    assert flask("key", "revoke", keys[0]["id"]).strip() == f"revoked {keys[0]['id']}"
    assert flask("token", "revoke", token).startswith("revoked mtk_")
    keys = json.loads(flask("key", "list", "--workspace", workspace_id, "--json"))
    assert keys[0]["revoked_at"] is not None and keys[1]["revoked_at"] is None

    assert json.loads(flask("deliveries", "stuck", "--json")) == []
    assert flask("purge", "--days", "1").startswith("purged 0 deliveries")
    missing = _run(migrated, "flask", "--app", "app", "key", "revoke", "key_missing")
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_the_start_script_writes_the_credentials_readable_by_their_owner_only(
    migrated: Path,
) -> None:
    result = bootstrap_as_start_does(checkout(migrated / "checkout", migrated))

    assert result.returncode == 0, result.stderr
    written = migrated / "credentials.json"
    assert written.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(written.read_text())) == {
        "workspaceId",
        "environmentId",
        "apiKey",
        "managementToken",
    }
