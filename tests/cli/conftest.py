"""Helpers for the CLI tests: captured call_command output and isolated child processes."""

import os
import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fast_hasher(settings: Any) -> None:
    """The demo and user commands hash passwords; the production hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def run(db: None) -> Callable[..., str]:
    """Runs a management command in-process and returns what it printed."""

    def run_command(*args: str) -> str:
        out = StringIO()
        call_command(*args, stdout=out)
        return out.getvalue()

    return run_command


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a `leadflow` child process: its own SQLite file, never the test run's database."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LEADFLOW_", "REDIS_URL"))
    }
    env |= {
        "LEADFLOW_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "leadflow.settings",
        "PYTHONUNBUFFERED": "1",
    }
    return env


def leadflow(
    *args: str, env: dict[str, str], timeout: float = 120, code: int = 0
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m leadflow.cli ARGS` to completion from the repository root, expecting exit `code`."""
    result = subprocess.run(
        [sys.executable, "-m", "leadflow.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == code, result.stdout + result.stderr
    return result


def django_eval(code: str, *, env: dict[str, str]) -> str:
    """Runs Python with Django set up in a child process (from the repository root); returns its output."""
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
