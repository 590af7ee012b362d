"""End to end speed to lead: capture → assigned → the rep's notification email accepted by an SMTP server.

    python benchmarks/speed_to_lead_e2e.py [--db sqlite|postgres] [--leads 200] [--rate 5]
                                           [--interval 0.05] [--json out.json]

A fresh database is migrated and seeded (a default team of 5 reps with a 5-minute SLA), an aiosmtpd
SMTP server listens on a free port of 127.0.0.1, and a real worker process (`leadflow worker`, i.e.
django-tasks-db's db_worker, polling every --interval seconds) is started with EMAIL_HOST pointing at it.
This process then captures --leads leads in-process through capture.services.lead_capture (the same
service the API calls), open loop at --rate leads per second. Each lead's latency runs from the moment
its capture was *scheduled* to the moment the SMTP server accepted the owner's "New lead" email.
Target: p99 ≤ 2 s.
"""

import argparse
import email
import email.policy
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchlib import ROOT, fresh_database, lead_payload, machine_summary, percentile, table, verdict

P99_TARGET_S = 2.0


LEAD_LINK = re.compile(r"/leads/(\d+)/")


class Inbox:
    """Records when the "New lead" email about each lead id was accepted."""

    def __init__(self) -> None:
        self.accepted: dict[int, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body()
        found = LEAD_LINK.search(body.get_content() if body is not None else "")
        if found and str(message["subject"]).startswith("New lead"):
            with self.lock:
                self.accepted.setdefault(int(found.group(1)), now)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(db: str, leads: int, rate: float, interval: float) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    with fresh_database(db) as env:
        env.update({"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp.port)})
        os.environ.update(env)
        leadflow = str(Path(sys.executable).with_name("leadflow"))
        subprocess.run([leadflow, "migrate", "--no-input", "-v", "0"], check=True, env={**os.environ})
        import django

        django.setup()
        from benchlib import seed_team
        from leadflow.access.models import Team
        from leadflow.capture.services import lead_capture
        from leadflow.routing.services import team_routing_update

        seed_team(reps=5)
        team_routing_update(
            team=Team.objects.get(), method="round_robin", sla_minutes=5, sla_reminder_minutes=2
        )
        worker = subprocess.Popen(
            [leadflow, "worker", "--interval", str(interval)],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(2)  # let the worker connect before the clock starts
            scheduled: dict[int, float] = {}
            captured: dict[int, float] = {}
            start = time.perf_counter()
            for seq in range(leads):
                due = start + seq / rate
                time.sleep(max(0.0, due - time.perf_counter()))
                payload = lead_payload(seq, "e2e")
                lead = lead_capture(payload=payload, channel="api").lead
                assert lead is not None and lead.owner_id is not None
                scheduled[lead.pk], captured[lead.pk] = due, time.perf_counter()
            deadline = time.perf_counter() + 30
            while len(inbox.accepted) < leads and time.perf_counter() < deadline:
                time.sleep(0.05)
            from django.db.models import Count
            from django_tasks_db.models import DBTaskResult

            tasks = dict(DBTaskResult.objects.values_list("status").annotate(n=Count("id")).order_by())
        finally:
            worker.terminate()
            _, errors = worker.communicate(timeout=30)
            smtp.stop()
    if errors.strip():
        print(errors.decode(errors="replace")[-2000:], file=sys.stderr)
    latencies = sorted(inbox.accepted[pk] - t for pk, t in scheduled.items() if pk in inbox.accepted)
    capture = sorted(captured[pk] - t for pk, t in scheduled.items())
    queued = sorted(inbox.accepted[pk] - captured[pk] for pk in captured if pk in inbox.accepted)
    missing = leads - len(latencies)
    p99 = percentile(latencies, 99) if not missing else float("inf")
    return {
        "db": db,
        "leads": leads,
        "rate_per_s": rate,
        "worker_interval_s": interval,
        "delivered": len(latencies),
        "missing": missing,
        "p50_s": percentile(latencies, 50),
        "p90_s": percentile(latencies, 90),
        "p99_s": p99,
        "max_s": latencies[-1] if latencies else float("nan"),
        "capture_p50_s": percentile(capture, 50),
        "capture_p99_s": percentile(capture, 99),
        "worker_to_smtp_p50_s": percentile(queued, 50),
        "worker_to_smtp_p99_s": percentile(queued, 99),
        "target_p99_s": P99_TARGET_S,
        "met": p99 <= P99_TARGET_S,
        "tasks_by_status": tasks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--leads", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="captures per second (open loop)")
    parser.add_argument("--interval", type=float, default=0.05, help="the worker's polling interval")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
    result = run(args.db, args.leads, args.rate, args.interval)
    result["machine"] = machine_summary()
    print(
        table(
            [
                "db",
                "leads",
                "delivered",
                "p50 s",
                "p90 s",
                "p99 s",
                "max s",
                "capture p50/p99 s",
                "commit→SMTP p50/p99 s",
                "p99 ≤ 2 s",
            ],
            [
                [
                    result["db"],
                    result["leads"],
                    result["delivered"],
                    result["p50_s"],
                    result["p90_s"],
                    result["p99_s"],
                    result["max_s"],
                    f"{result['capture_p50_s']:.3f} / {result['capture_p99_s']:.3f}",
                    f"{result['worker_to_smtp_p50_s']:.3f} / {result['worker_to_smtp_p99_s']:.3f}",
                    verdict(result["met"]),
                ]
            ],
        )
    )
    print(json.dumps({"tasks_by_status": result["tasks_by_status"], **result["machine"]}))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
