"""HTTP capture benchmark: POST /api/v1/leads against the trivial GET /healthz, under gunicorn.

    python benchmarks/capture_http.py [--db sqlite|postgres|both] [--duration 10] [--rate 200]
                                      [--workers 2] [--json out.json]

For each database: a fresh database is migrated and seeded (default team of reps, a capture API key),
gunicorn is started on a free port of 127.0.0.1, and both endpoints are measured in the same run:

a. closed loop: N connections send back to back for --duration seconds per endpoint (split in
   alternating rounds so drift on a noisy machine hits both alike) → requests/s and their ratio;
b. open loop: requests are scheduled at a fixed --rate; latency runs from the *scheduled* send time,
   so a slow server cannot hide its queueing (no coordinated omission) → p50/p90/p99/max, errors.

CPU time of the client, the gunicorn processes, the PostgreSQL backends and the whole machine is
read from /proc per phase, which gives server CPU per request (a figure the noise affects less).
Targets: capture throughput ≥ 50 % of the trivial endpoint's; capture p99 ≤ 50 ms at 200 leads/s.
"""

import argparse
import http.client
import itertools
import json
import os
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchlib import (
    BENCH_DIR,
    DB_CHOICES,
    PG_ADMIN_URL,
    fresh_database,
    lead_payload,
    machine_summary,
    percentile,
    pg_settings_arg,
    selected_dbs,
    table,
    verdict,
)

HOST = "127.0.0.1"
THROUGHPUT_TARGET = 0.5  # capture req/s ≥ 50 % of the trivial endpoint's
P99_TARGET_MS = 50.0  # capture p99 at the offered rate
REQUEST_TIMEOUT = 30.0
MAX_REQUESTS_PER_SECOND = 50_000  # bounds every loop: no phase sends more than duration * this
CLK_TCK = os.sysconf("SC_CLK_TCK")
CLIENTS: dict[str, Callable[[int], "HttpClient"]] = {}


# --- targets --------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    method: str
    path: str
    expected_status: int
    headers: dict[str, str]
    body: Callable[[], bytes | None]


def targets(api_key: str) -> list[Target]:
    run = secrets.token_hex(3)
    counter = itertools.count()  # next() on a count is atomic under the GIL: unique across threads

    def capture_body() -> bytes:
        return json.dumps(lead_payload(next(counter), run)).encode()

    return [
        Target("healthz", "GET", "/healthz", 200, {}, lambda: None),
        Target(
            "capture",
            "POST",
            "/api/v1/leads",
            201,
            {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            capture_body,
        ),
    ]


class HttpClient(Protocol):
    def send(self, target: Target) -> str | None: ...

    def close(self) -> None: ...


class Client:
    """One HTTP/1.1 connection, reopened when the server closes it (gunicorn's sync workers do)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, target: Target) -> str | None:
        """Sends one request; None when it answered the expected status, else what went wrong."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
        try:
            self.conn.request(target.method, target.path, body=target.body(), headers=target.headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return f"{type(exc).__name__}: {exc}"
        if response.status != target.expected_status:
            return f"HTTP {response.status}: {data[:200]!r}"
        return None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class RawClient:
    """The same over a bare socket: a fraction of http.client's CPU, which matters on 2 cores.

    Understands what leadflow answers: a status line, headers, a Content-Length body (or a body
    up to the close), and `Connection: close`.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _request_bytes(self, target: Target) -> bytes:
        body = target.body()
        head = [f"{target.method} {target.path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        head += [f"{k}: {v}" for k, v in target.headers.items()]
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")

    def send(self, target: Target) -> str | None:
        request = self._request_bytes(target)
        try:
            if self.sock is None:
                self.sock = socket.create_connection((HOST, self.port), timeout=REQUEST_TIMEOUT)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer = b""
            self.sock.sendall(request)
            status, keep_alive, body = self._read_response()
        except (OSError, ValueError) as exc:
            self.close()
            return f"{type(exc).__name__}: {exc}"
        if not keep_alive:
            self.close()
        if status != target.expected_status:
            return f"HTTP {status}: {body[:200]!r}"
        return None

    def _recv(self) -> bytes:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionResetError("the server closed the connection mid-response")
        return data

    def _read_response(self) -> tuple[int, bool, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > 65536:
                raise ValueError("response head too large")
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raise ValueError("chunked responses are not supported by this client")
        connection = headers.get("connection", "").lower()
        keep_alive = connection == "keep-alive" or (version == "HTTP/1.1" and connection != "close")
        if "content-length" in headers:
            length = int(headers["content-length"])
            for _ in range(10_000):
                if len(rest) >= length:
                    break
                rest += self._recv()
            body, self.buffer = rest[:length], rest[length:]
        else:  # the body runs to the end of the connection
            for _ in range(10_000):
                try:
                    rest += self._recv()
                except ConnectionResetError:
                    break
            body, self.buffer, keep_alive = rest, b"", False
        return int(status), keep_alive, body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


CLIENTS.update({"raw": RawClient, "http.client": Client})


# --- CPU accounting from /proc ---------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process in seconds; 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _server_pids(master_pid: int, db_name: str | None) -> tuple[list[int], list[int]]:
    """Gunicorn's master and workers; the PostgreSQL backends connected to `db_name`."""
    gunicorn, postgres = [master_pid], []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == master_pid:
                gunicorn.append(int(entry.name))
            elif db_name and _is_backend_of(entry, db_name):
                postgres.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return gunicorn, postgres


def _is_backend_of(entry: Path, db_name: str) -> bool:
    cmdline = (entry / "cmdline").read_bytes()
    return cmdline.startswith(b"postgres: ") and f" {db_name} ".encode() in cmdline


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass
class CpuUse:
    wall_s: float = 0.0
    client_s: float = 0.0
    gunicorn_s: float = 0.0
    postgres_s: float = 0.0
    machine_busy_s: float = 0.0
    machine_total_s: float = 0.0

    def add(self, other: "CpuUse") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class CpuMeter:
    def __init__(self, master_pid: int, db_name: str | None) -> None:
        self.master_pid = master_pid
        self.db_name = db_name

    @contextmanager
    def measure(self) -> Iterator[CpuUse]:
        use = CpuUse()
        gunicorn_pids, postgres_pids = _server_pids(self.master_pid, self.db_name)
        start = (
            time.perf_counter(),
            time.process_time(),
            {p: _proc_cpu(p) for p in gunicorn_pids},
            {p: _proc_cpu(p) for p in postgres_pids},
            _machine_busy(),
        )
        try:
            yield use
        finally:
            gunicorn_pids, postgres_pids = _server_pids(self.master_pid, self.db_name)
            use.wall_s = time.perf_counter() - start[0]
            use.client_s = time.process_time() - start[1]
            use.gunicorn_s = sum(_proc_cpu(p) - start[2].get(p, 0.0) for p in gunicorn_pids)
            use.postgres_s = sum(_proc_cpu(p) - start[3].get(p, 0.0) for p in postgres_pids)
            busy, total = _machine_busy()
            use.machine_busy_s = busy - start[4][0]
            use.machine_total_s = total - start[4][1]


# --- load generators -------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    endpoint: str
    mode: str
    requests: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    error_samples: list[str] = field(default_factory=list)
    max_pickup_lag_ms: float = 0.0  # open loop: scheduled time → a connection took the request
    max_in_flight: int = 0
    cpu: CpuUse = field(default_factory=CpuUse)

    @property
    def ok(self) -> int:
        return self.requests - self.errors

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    def merge(self, other: "PhaseResult") -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.elapsed_s += other.elapsed_s
        self.latencies_ms.extend(other.latencies_ms)
        self.error_samples = (self.error_samples + other.error_samples)[:5]
        self.max_pickup_lag_ms = max(self.max_pickup_lag_ms, other.max_pickup_lag_ms)
        self.max_in_flight = max(self.max_in_flight, other.max_in_flight)
        self.cpu.add(other.cpu)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        cpu = self.cpu
        server_cpu = cpu.gunicorn_s + cpu.postgres_s
        return {
            "endpoint": self.endpoint,
            "mode": self.mode,
            "requests": self.requests,
            "errors": self.errors,
            "elapsed_s": round(self.elapsed_s, 3),
            "req_per_s": round(self.rate, 1),
            "p50_ms": round(percentile(lat, 50), 2),
            "p90_ms": round(percentile(lat, 90), 2),
            "p99_ms": round(percentile(lat, 99), 2),
            "max_ms": round(lat[-1], 2) if lat else None,
            "max_pickup_lag_ms": round(self.max_pickup_lag_ms, 2),
            "max_in_flight": self.max_in_flight,
            "server_cpu_ms_per_req": round(server_cpu * 1000 / self.ok, 3) if self.ok else None,
            "gunicorn_cpu_ms_per_req": round(cpu.gunicorn_s * 1000 / self.ok, 3) if self.ok else None,
            "postgres_cpu_ms_per_req": round(cpu.postgres_s * 1000 / self.ok, 3) if self.ok else None,
            "client_cpu_pct_of_core": round(100 * cpu.client_s / cpu.wall_s, 1) if cpu.wall_s else None,
            "machine_busy_pct": round(100 * cpu.machine_busy_s / cpu.machine_total_s, 1)
            if cpu.machine_total_s
            else None,
            "other_cpu_pct_of_machine": round(
                100 * (cpu.machine_busy_s - cpu.client_s - server_cpu) / cpu.machine_total_s, 1
            )
            if cpu.machine_total_s
            else None,
            "error_samples": self.error_samples,
        }


def closed_loop(
    target: Target, port: int, connections: int, duration: float, *, client_kind: str = "raw"
) -> PhaseResult:
    """`connections` threads each send requests back to back until `duration` has passed."""
    result = PhaseResult(target.name, "closed")
    lock = threading.Lock()
    start = time.perf_counter()
    stop_at = start + duration
    max_requests = max(1, int(duration * MAX_REQUESTS_PER_SECOND / connections))
    finished: list[float] = []

    def worker() -> None:
        client = CLIENTS[client_kind](port)
        latencies: list[float] = []
        errors: list[str] = []
        sent = 0
        try:
            while sent < max_requests and (now := time.perf_counter()) < stop_at:
                error = client.send(target)
                latencies.append((time.perf_counter() - now) * 1000)
                sent += 1
                if error is not None:
                    errors.append(error)
        finally:
            client.close()
            with lock:
                result.requests += sent
                result.errors += len(errors)
                result.latencies_ms.extend(latencies)
                result.error_samples = (result.error_samples + errors)[:5]
                finished.append(time.perf_counter())

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + REQUEST_TIMEOUT + 5)
    result.elapsed_s = (max(finished) if finished else time.perf_counter()) - start
    result.max_in_flight = connections
    return result


def open_loop(
    target: Target, port: int, connections: int, rate: float, duration: float, *, client_kind: str = "raw"
) -> PhaseResult:
    """Requests scheduled every 1/rate s; each is timed from its scheduled send time.

    A dispatcher puts the scheduled times on a queue at those times; `connections` threads take
    them. Waiting in the queue (all connections busy) counts in the latency, as it would for a real
    caller, and the largest such wait is reported so a starved client would be visible.
    """
    result = PhaseResult(target.name, "open")
    total = max(1, int(rate * duration))
    jobs: queue.SimpleQueue[float | None] = queue.SimpleQueue()
    lock = threading.Lock()
    grace = REQUEST_TIMEOUT + 5
    in_flight = 0
    finished: list[float] = []
    t0 = time.perf_counter() + 0.1
    hard_stop = t0 + duration + grace

    def worker() -> None:
        nonlocal in_flight
        client = CLIENTS[client_kind](port)
        latencies: list[float] = []
        errors: list[str] = []
        sent = 0
        max_lag = 0.0
        last_done = 0.0
        try:
            for _ in range(total + 1):
                scheduled = jobs.get(timeout=duration + grace)
                if scheduled is None:
                    break
                picked = time.perf_counter()
                max_lag = max(max_lag, picked - scheduled)
                sent += 1
                if picked > hard_stop:
                    errors.append("not sent: the phase ran past its time limit")
                    continue
                with lock:
                    in_flight += 1
                    result.max_in_flight = max(result.max_in_flight, in_flight)
                error = client.send(target)
                last_done = time.perf_counter()
                with lock:
                    in_flight -= 1
                latencies.append((last_done - scheduled) * 1000)
                if error is not None:
                    errors.append(error)
        except queue.Empty:
            pass
        finally:
            client.close()
            with lock:
                result.requests += sent
                result.errors += len(errors)
                result.latencies_ms.extend(latencies)
                result.error_samples = (result.error_samples + errors)[:5]
                result.max_pickup_lag_ms = max(result.max_pickup_lag_ms, max_lag * 1000)
                finished.append(last_done)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        jobs.put(scheduled)
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join(max(0.0, hard_stop - time.perf_counter()) + REQUEST_TIMEOUT + 5)
    result.elapsed_s = max([*finished, t0 + duration]) - t0
    return result


# --- server lifecycle ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def run_cli(args: list[str], env: dict[str, str], cwd: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "leadflow.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"leadflow {args[0]} failed:\n{completed.stdout}\n{completed.stderr}")
    return completed.stdout


def setup_database(env: dict[str, str], reps: int) -> str:
    """Migrates and seeds the fresh database; returns the capture API key."""
    cwd = env["LEADFLOW_DATA_DIR"]
    run_cli(["migrate", "--no-input", "-v", "0"], env, cwd)
    code = (
        f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r}); from benchlib import seed_team; "
        f"print('BENCH_API_KEY=' + seed_team({reps}))"
    )
    out = run_cli(["shell", "-c", code], env, cwd)
    for line in out.splitlines():
        if line.startswith("BENCH_API_KEY="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError(f"The seed script printed no API key:\n{out}")


@contextmanager
def gunicorn(env: dict[str, str], workers: int) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A gunicorn serving leadflow on a free port of 127.0.0.1, stopped on the way out."""
    port = free_port()
    log_path = Path(env["LEADFLOW_DATA_DIR"]) / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn", "leadflow.wsgi:application",
        "-b", f"{HOST}:{port}", "-w", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, env=env, cwd=env["LEADFLOW_DATA_DIR"], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"gunicorn did not answer /healthz in 60 s:\n{log_path.read_text()[-3000:]}"
                )
            if Client(port).send(Target("healthz", "GET", "/healthz", 200, {}, lambda: None)) is None:
                break
            time.sleep(0.2)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        errors = [line for line in log_path.read_text(errors="replace").splitlines() if "Traceback" in line]
        if errors:
            print(f"  (gunicorn logged {len(errors)} tracebacks; see {log_path} while it exists)")


# --- one database ----------------------------------------------------------------------------------


def bench_database(db: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n=== {db}: fresh database, gunicorn {args.workers} sync workers ===", flush=True)
    with fresh_database(
        db, pg_admin_url=args.pg_admin_url, pg_settings=pg_settings_arg(args.pg_set)
    ) as overrides:
        env = {**os.environ, **overrides}
        env.pop("LEADFLOW_SQLITE_PATH", None)
        if db == "sqlite":
            env.pop("DATABASE_URL", None)
        started = time.perf_counter()
        api_key = setup_database(env, args.reps)
        print(f"  migrated and seeded in {time.perf_counter() - started:.1f} s", flush=True)
        db_name = env["DATABASE_URL"].rsplit("/", 1)[1] if db == "postgres" else None
        with gunicorn(env, args.workers) as (proc, port):
            meter = CpuMeter(proc.pid, db_name)
            healthz, capture = targets(api_key)
            # Warm-up: every worker imports, connects and fills its caches before anything is timed.
            for target in (healthz, capture):
                warm = closed_loop(target, port, args.connections, args.warmup, client_kind=args.client)
                if warm.errors:
                    raise RuntimeError(f"Warm-up of {target.name} failed: {warm.error_samples}")

            closed = {t.name: PhaseResult(t.name, "closed") for t in (healthz, capture)}
            round_s = args.duration / args.rounds
            for i in range(args.rounds):
                # Alternate the order per round so a drifting machine load hits both endpoints alike.
                for target in (healthz, capture) if i % 2 == 0 else (capture, healthz):
                    with meter.measure() as cpu:
                        phase = closed_loop(target, port, args.connections, round_s, client_kind=args.client)
                    phase.cpu = cpu
                    closed[target.name].merge(phase)
                    print(
                        f"  closed loop {target.name:8s} round {i + 1}: {phase.rate:8.1f} req/s", flush=True
                    )

            opened: dict[str, PhaseResult] = {}
            for target in (healthz, capture):
                with meter.measure() as cpu:
                    phase = open_loop(
                        target, port, args.open_connections, args.rate, args.duration, client_kind=args.client
                    )
                phase.cpu = cpu
                opened[target.name] = phase
                lat = sorted(phase.latencies_ms)
                print(
                    f"  open loop   {target.name:8s} {args.rate:g} req/s: p99 {percentile(lat, 99):.1f} ms,"
                    f" {phase.errors} errors",
                    flush=True,
                )

            # The latency the capture endpoint gives below its saturation point, for comparison.
            sustainable: dict[str, Any] | None = None
            easy_rate = round(args.sustainable_fraction * closed["capture"].rate)
            if 0 < easy_rate < args.rate:
                with meter.measure() as cpu:
                    phase = open_loop(
                        capture,
                        port,
                        args.open_connections,
                        easy_rate,
                        args.duration,
                        client_kind=args.client,
                    )
                phase.cpu = cpu
                sustainable = {"rate": easy_rate, **phase.summary()}
                print(f"  open loop   capture  {easy_rate} req/s: p99 {sustainable['p99_ms']} ms", flush=True)
    return {
        "db": db,
        "closed": {name: r.summary() for name, r in closed.items()},
        "open": {name: r.summary() for name, r in opened.items()},
        "open_below_saturation": sustainable,
    }


# --- report ----------------------------------------------------------------------------------------


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    for res in results:
        closed, opened = res["closed"], res["open"]
        ratio = closed["capture"]["req_per_s"] / closed["healthz"]["req_per_s"]
        res["capture_to_trivial_throughput"] = round(ratio, 3)
        cpu_ratio = closed["healthz"]["server_cpu_ms_per_req"] / closed["capture"]["server_cpu_ms_per_req"]
        res["trivial_to_capture_server_cpu"] = round(cpu_ratio, 3)
        res["targets"] = {
            "throughput_ratio_ge_50pct": ratio >= THROUGHPUT_TARGET,
            "capture_p99_le_50ms": opened["capture"]["errors"] == 0
            and opened["capture"]["p99_ms"] <= P99_TARGET_MS,
        }
        print(
            f"\n## {res['db']}: closed loop, {args.connections} connections, {args.duration:g} s per endpoint"
        )
        print(
            table(
                ["endpoint", "requests", "errors", "req/s", "p50 ms", "p99 ms", "server CPU ms/req",
                 "of which PG", "client CPU %core", "other load %"],
                [
                    [s["endpoint"], s["requests"], s["errors"], s["req_per_s"], s["p50_ms"], s["p99_ms"],
                     s["server_cpu_ms_per_req"], s["postgres_cpu_ms_per_req"], s["client_cpu_pct_of_core"],
                     s["other_cpu_pct_of_machine"]]
                    for s in closed.values()
                ],
            )
        )  # fmt: skip
        print(
            f"capture/trivial throughput: {100 * ratio:.1f} %  (target ≥ {100 * THROUGHPUT_TARGET:.0f} %: "
            f"{verdict(res['targets']['throughput_ratio_ge_50pct'])})"
        )
        cores = os.cpu_count() or 1
        capacity = cores * 1000 / closed["capture"]["server_cpu_ms_per_req"]
        print(
            f"cross-check from server CPU per request (less noise-prone): trivial/capture = "
            f"{100 * cpu_ratio:.1f} %; {cores} cores to itself would serve ≈ {capacity:.0f} captures/s"
        )
        print(
            f"\n## {res['db']}: open loop, {args.rate:g} req/s offered for {args.duration:g} s, "
            f"{args.open_connections} connections; latency from the scheduled send time"
        )
        print(
            table(
                ["endpoint", "sent", "errors", "achieved req/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
                 "max queue wait ms", "max in flight", "server CPU ms/req"],
                [
                    [s["endpoint"], s["requests"], s["errors"], s["req_per_s"], s["p50_ms"], s["p90_ms"],
                     s["p99_ms"], s["max_ms"], s["max_pickup_lag_ms"], s["max_in_flight"],
                     s["server_cpu_ms_per_req"]]
                    for s in opened.values()
                ],
            )
        )  # fmt: skip
        if easy := res["open_below_saturation"]:
            print(
                f"capture at {easy['rate']} req/s ({100 * args.sustainable_fraction:.0f} % of its closed-"
                f"loop max): p50 {easy['p50_ms']} ms, p90 {easy['p90_ms']} ms, p99 {easy['p99_ms']} ms, "
                f"max {easy['max_ms']} ms, {easy['errors']} errors, {easy['req_per_s']} req/s achieved"
            )
        print(
            f"capture p99 at {args.rate:g} req/s: {opened['capture']['p99_ms']} ms  "
            f"(target ≤ {P99_TARGET_MS:g} ms with no errors: "
            f"{verdict(res['targets']['capture_p99_le_50ms'])})"
        )
        for s in [*closed.values(), *opened.values()]:
            if s["error_samples"]:
                print(f"  {s['mode']} {s['endpoint']} errors, e.g.: {s['error_samples'][:3]}")

    if len(results) > 1:
        print("\n## summary")
        print(
            table(
                ["db", "healthz req/s", "capture req/s", "ratio", "≥50 %", "capture p50 ms", "capture p99 ms",
                 "≤50 ms", "capture server CPU ms/req"],
                [
                    [r["db"], r["closed"]["healthz"]["req_per_s"], r["closed"]["capture"]["req_per_s"],
                     f"{100 * r['capture_to_trivial_throughput']:.1f} %",
                     verdict(r["targets"]["throughput_ratio_ge_50pct"]), r["open"]["capture"]["p50_ms"],
                     r["open"]["capture"]["p99_ms"], verdict(r["targets"]["capture_p99_le_50ms"]),
                     r["closed"]["capture"]["server_cpu_ms_per_req"]]
                    for r in results
                ],
            )
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=DB_CHOICES, default="sqlite")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint and mode")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop offered rate, requests/s")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=8, help="closed-loop concurrent connections")
    parser.add_argument("--open-connections", type=int, default=32, help="open-loop connection pool size")
    parser.add_argument("--client", choices=("raw", "http.client"), default="raw", help="HTTP client")
    parser.add_argument("--rounds", type=int, default=4, help="closed-loop alternating rounds")
    parser.add_argument("--warmup", type=float, default=1.5, help="warm-up seconds per endpoint")
    parser.add_argument("--reps", type=int, default=5, help="reps in the default team")
    parser.add_argument(
        "--pg-admin-url", default=PG_ADMIN_URL, help="maintenance DB to create the bench DB from"
    )
    parser.add_argument(
        "--sustainable-fraction",
        type=float,
        default=0.5,
        help="also run capture open-loop at this fraction of its closed-loop max (0 = skip)",
    )
    parser.add_argument(
        "--pg-set", action="append", metavar="NAME=VALUE", help="ALTER DATABASE SET, diagnosis"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if not (0 < args.duration <= 600 and 0 < args.rate <= 10_000 and 1 <= args.rounds <= 20):
        parser.error("--duration must be in (0, 600], --rate in (0, 10000], --rounds in [1, 20]")

    machine = machine_summary()
    print(
        f"machine: {machine['cpus']} CPUs, load {machine['loadavg_at_start']}, Python {machine['python']}, "
        f"leadflow {machine['git']}"
    )
    results = [bench_database(db, args) for db in selected_dbs(args.db)]
    report(results, args)
    if args.json:
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"machine": machine, "config": config, "results": results}, indent=2))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
