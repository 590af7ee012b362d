"""`leadflow worker` and `leadflow serve` as real processes, each on its own temporary SQLite file."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, django_eval, leadflow

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads the process table in /proc"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "leadflow.cli", *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until(
    condition: object, timeout: float, what: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} before {what}:\n{log.read_text()}")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def descendants(pid: int) -> dict[int, str]:
    """Living descendant processes by pid, with their command lines."""
    parents = {int(p.name): parent_of(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and alive(child):
                found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for an absent parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:
        return 0, ""


@pytest.fixture
def migrated(child_env: dict[str, str]) -> dict[str, str]:
    leadflow("migrate", "-v0", env=child_env)
    return child_env


ENQUEUE = "from tests.cli.tasks import add; print(add.enqueue(2, 3).id)"
RESULT = (
    "from tests.cli.tasks import add; r = add.get_result({id!r}); "
    "print(r.status, r.return_value if r.is_finished else '')"
)


def test_db_worker_runs_tasks_and_stops_cleanly_on_sigterm(migrated: dict[str, str], tmp_path: Path) -> None:
    task_id = django_eval(ENQUEUE, env=migrated)
    log = tmp_path / "worker.log"
    worker = start(["worker", "--interval", "0.2"], migrated, log)
    try:
        wait_until(
            lambda: "SUCCESSFUL 5" in django_eval(RESULT.format(id=task_id), env=migrated),
            60,
            "the task to run",
            worker,
            log,
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    finally:
        worker.kill()
        worker.wait()
    assert "Starting worker" in log.read_text()
    assert "Traceback" not in log.read_text()


ABANDON = (
    "from datetime import timedelta; from django.utils import timezone; "
    "from leadflow.capture.models import Submission; "
    "print(Submission.objects.create(payload={'email': 'lost@example.com'}, "
    "received_at=timezone.now() - timedelta(minutes=5)).pk)"
)
STATUS = (
    "from leadflow.capture.models import Submission; s = Submission.objects.get(pk={id}); "
    "print(s.status, s.outcome)"
)


def test_a_starting_worker_finishes_submissions_a_dead_process_left(migrated: dict[str, str]) -> None:
    submission_id = django_eval(ABANDON, env=migrated)

    leadflow("worker", "--batch", env=migrated, timeout=60)

    assert django_eval(STATUS.format(id=submission_id), env=migrated) == "processed created"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait()


def test_rq_worker_runs_tasks(migrated: dict[str, str], redis_url: str) -> None:
    env = migrated | {"LEADFLOW_TASK_BACKEND": "rq", "REDIS_URL": redis_url}
    task_id = django_eval(ENQUEUE, env=env)

    leadflow("worker", "--batch", env=env, timeout=60)

    assert django_eval(RESULT.format(id=task_id), env=env) == "SUCCESSFUL 5"


DEFER = (
    "import datetime as dt; from django.utils import timezone; from tests.cli.tasks import add; "
    "print(add.using(run_after=timezone.now() + dt.timedelta(seconds=1)).enqueue(4, 5).id)"
)


def test_rq_worker_runs_deferred_tasks_once_due(migrated: dict[str, str], redis_url: str) -> None:
    env = migrated | {"LEADFLOW_TASK_BACKEND": "rq", "REDIS_URL": redis_url}
    task_id = django_eval(DEFER, env=env)
    time.sleep(1.5)

    leadflow("worker", "--batch", env=env, timeout=60)

    assert django_eval(RESULT.format(id=task_id), env=env) == "SUCCESSFUL 9"


def test_immediate_backend_needs_no_worker(child_env: dict[str, str]) -> None:
    result = leadflow("worker", env=child_env | {"LEADFLOW_TASK_BACKEND": "immediate"}, code=1)
    assert "no worker is needed" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def served(child_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """`leadflow serve` on a fresh data directory (it migrates by itself), once it answers /healthz."""
    port, log = free_port(), tmp_path / "serve.log"
    serve = start(["serve", "--port", str(port), "--workers", "1"], child_env, log)
    try:
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200,
            60,
            "/healthz to answer",
            serve,
            log,
        )
        yield serve, port, log
    finally:
        for pid in descendants(serve.pid):
            os.kill(pid, signal.SIGKILL)
        serve.kill()
        serve.wait()


def test_serve_runs_web_and_worker_and_stops_both_on_sigterm(
    served: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    serve, port, log = served
    status, docs = http_get(f"http://127.0.0.1:{port}/api/v1/docs")
    assert status == 200 and "swagger" in docs.lower() and "cdn.jsdelivr" not in docs
    children = descendants(serve.pid)
    assert any("gunicorn" in cmd for cmd in children.values())
    assert any("leadflow.cli worker" in cmd for cmd in children.values())

    serve.send_signal(signal.SIGTERM)

    assert serve.wait(timeout=30) == 0
    assert not [pid for pid in children if alive(pid)]
    output = log.read_text()
    assert (
        f"leadflow is running on http://127.0.0.1:{port} (admin: /admin/, API docs: /api/v1/docs)" in output
    )
    assert "GET /api/v1/docs" in output  # the access log
    assert "Traceback" not in output


def test_serve_stops_everything_when_a_child_dies(served: tuple[subprocess.Popen[bytes], int, Path]) -> None:
    serve, _, log = served
    children = descendants(serve.pid)
    worker = next(pid for pid, cmd in children.items() if "leadflow.cli worker" in cmd)

    os.kill(worker, signal.SIGKILL)

    assert serve.wait(timeout=30) == 128 + signal.SIGKILL
    assert not [pid for pid in children if alive(pid)]
    assert "The task worker exited with code 137; leadflow stopped." in log.read_text()
