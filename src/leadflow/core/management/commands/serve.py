"""`leadflow serve`: the web server and a background task worker, supervised together.

Ctrl+C, SIGTERM or SIGHUP stops both and exits 0. When either child exits by itself, the other is
stopped too and serve exits with that child's code (128 + signal number if a signal killed it).
"""

import signal
import subprocess
import sys
import time
from argparse import ArgumentParser
from collections.abc import Iterable
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor

# Seconds the children get to stop after SIGTERM before they are killed.
STOP_TIMEOUT = 10
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Command(BaseCommand):
    help = "Run leadflow: migrate the database if needed, then start gunicorn and one task worker."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default: %(default)s).")
        parser.add_argument("--port", type=int, default=8000, help="Port to bind (default: %(default)s).")
        parser.add_argument(
            "--workers", type=int, default=2, help="gunicorn sync worker processes (default: %(default)s)."
        )

    def handle(self, *args: Any, host: str, port: int, workers: int, **options: Any) -> None:
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            self.stdout.write("Applying database migrations…")
            call_command("migrate", interactive=False, verbosity=0)
        connections.close_all()

        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # gunicorn stops within STOP_TIMEOUT; it needs no control socket (in $HOME) since this supervises it.
        commands = {
            "web server": [
                sys.executable, "-m", "gunicorn", "leadflow.wsgi:application", "-b", bind, "-w", str(workers),
                "--access-logfile", "-", "--graceful-timeout", str(STOP_TIMEOUT - 2), "--no-control-socket",
            ],
        }  # fmt: skip
        if settings.TASK_BACKEND != "immediate":
            commands["task worker"] = [sys.executable, "-m", "leadflow.cli", "worker"]

        stop_signal: list[int] = []

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop_signal.append(signum)

        previous = {signum: signal.signal(signum, request_stop) for signum in STOP_SIGNALS}
        children: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, argv in commands.items():
                # Own process group: a Ctrl+C reaches only this process, which then stops each child once.
                children[name] = subprocess.Popen(argv, process_group=0)
            self.stdout.write(
                f"leadflow is running on http://{bind} (admin: /admin/, API docs: /api/v1/docs)"
                " — Ctrl+C to stop"
            )
            self.stdout.flush()
            exited = _wait_for_first_exit(children, stop_signal)
        finally:
            _stop(children.values())
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if exited is not None:
            name, code = exited
            raise CommandError(f"The {name} exited with code {code}; leadflow stopped.", returncode=code or 1)
        self.stdout.write("leadflow stopped.")


def _wait_for_first_exit(
    children: dict[str, subprocess.Popen[bytes]], stop_signal: list[int]
) -> tuple[str, int] | None:
    """Blocks until a stop signal arrives (None) or a child exits ((name, exit code))."""
    while not stop_signal:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                return name, code if code >= 0 else 128 - code
        time.sleep(0.2)
    return None


def _stop(children: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every running child, then SIGKILL to those still running after STOP_TIMEOUT seconds."""
    running = [c for c in children if c.poll() is None]
    for child in running:
        child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in running:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
