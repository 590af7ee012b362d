"""Nurture send benchmark: enrolled leads stepping through a 3-step sequence, sent to a local SMTP server.

    python benchmarks/nurture_send.py [--leads 100000] [--db sqlite|postgres] [--senders 1] [--json out.json]

On a fresh database it creates `--leads` leads with email opt-in, a personalised template (subject, text
and HTML with a tracked link) and a campaign of three steps: send the email, wait up to 3 days until the
lead clicks, send the follow-up. All leads are enrolled in bulk. An aiosmtpd server runs in its own
process on 127.0.0.1 and counts the messages it accepts (250 answered to the client).

It then times, in the same run:

* step 1 for every lead: `--senders` processes each call nurture.services.enrollments_run() (the body of
  the `run` task) in batches until nothing is due; emails/s = messages accepted by the SMTP server /
  wall time (render, consent/suppression/cap checks, ledger, SMTP over reused connections, timeline);
* the bare ceiling in the same run: min(leads, 2,000) pre-built messages through Django's SMTP backend
  over one connection to the same server (the ratio leadflow / bare is printed);
* a behaviour event on waiting leads: a click on the first email (nurture.services.delivery_clicked: the
  activity, its engagement points, then nurture's reaction) inside a transaction with the immediate task
  backend, until the lead's enrollment has moved to step 3 and the follow-up is accepted by the SMTP
  server (≤ 1 s target). One untimed event first warms the measuring process up, as a running worker
  is (URL resolver, compiled templates). This excludes the worker's polling interval
  (`leadflow worker --interval`, 1 s by default) that the database task backend adds.

Targets: ≥ 300 emails/s on 2 cores; an event moves a lead to its next branch in ≤ 1 s.
"""

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import DB_CHOICES, fresh_database, machine_summary, percentile, selected_dbs, table, verdict

EMAILS_PER_S_TARGET, EVENT_TARGET_S = 300.0, 1.0


def smtp_server(port: int, counter: Any, ready: Any) -> None:
    """The SMTP server process: accepts every message and counts it."""
    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(leads: int) -> int:
    from leadflow.leads.models import Consent, Lead
    from leadflow.nurture.services import campaign_save, leads_enroll, template_save

    first = template_save(
        values={
            "name": "Welcome",
            "channel": "email",
            "subject": 'Welcome, {{ lead.first_name | "friend" }}',
            "text": 'Hi {{ lead.first_name | "there" }} at {{ lead.company | "your company" }}.\n'
            "{{ unsubscribe_url }}",
            "html": '<p>Hi {{ lead.first_name | "there" }}</p>'
            '<p><a href="https://example.com/guide">Read the guide</a></p>',
        },
        actor=None,
    )
    second = template_save(
        values={
            "name": "Follow-up",
            "channel": "email",
            "subject": "Did you see it?",
            "text": "Hi {{ lead.first_name }}",
        },
        actor=None,
    )
    campaign = campaign_save(
        values={
            "name": "Bench",
            "status": "active",
            "steps": [
                {"type": "email", "template_id": first.pk},
                {
                    "type": "wait",
                    "minutes": 4320,
                    "until_condition": {"field": "clicked", "op": "eq", "value": True},
                },
                {"type": "email", "template_id": second.pk},
            ],
        },
        actor=None,
    )
    created = Lead.objects.bulk_create(
        [
            Lead(
                first_name=f"Lead{i}",
                company=f"Company {i % 997}",
                email=f"lead{i}@bench.example",
                email_normalized=f"lead{i}@bench.example",
            )
            for i in range(leads)
        ],
        batch_size=5000,
    )
    Consent.objects.bulk_create(
        [Consent(lead=lead, channel="email", state="granted", method="benchmark") for lead in created],
        batch_size=5000,
    )
    leads_enroll(campaign=campaign, lead_ids=[lead.pk for lead in created], reason="benchmark")
    return campaign.pk


def smtp_baseline(counter: Any, messages: int) -> float:
    """The ceiling in this run: pre-built messages through Django's SMTP backend over one connection."""
    from django.core.mail import EmailMultiAlternatives, get_connection

    built = []
    for i in range(messages):
        message = EmailMultiAlternatives(
            subject=f"Welcome, Lead{i}", body=f"Hi Lead{i}", to=[f"b{i}@bench.example"]
        )
        message.attach_alternative(f"<p>Hi Lead{i}</p>", "text/html")
        built.append(message)
    before = counter.value
    started = time.perf_counter()
    with get_connection() as connection:
        connection.send_messages(built)
    return (counter.value - before) / (time.perf_counter() - started)


def sender(env: dict[str, str], result: Any) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from leadflow.nurture.services import enrollments_run

    taken = 0
    while batch := enrollments_run():
        taken += batch
    result.put(taken)


def measure(env: dict[str, str], leads: int, senders: int, events: int, counter: Any) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections, transaction
    from django.test import override_settings

    from leadflow.nurture.models import Enrollment
    from leadflow.tracking.services import event_record

    call_command("migrate", verbosity=0, interactive=False)
    baseline = smtp_baseline(counter, min(leads, 2000))
    started = time.perf_counter()
    seed(leads)
    seed_s = time.perf_counter() - started
    connections.close_all()

    before = counter.value
    results: Any = multiprocessing.Queue()
    started = time.perf_counter()
    procs = [multiprocessing.Process(target=sender, args=(env, results)) for _ in range(senders)]
    for proc in procs:
        proc.start()
    taken = sum(results.get() for _ in procs)
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - started
    sent = counter.value - before
    waiting = Enrollment.objects.filter(step=1).count()

    latencies = []
    tasks = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    with override_settings(TASKS=tasks, LEADFLOW_NURTURE_MAX_PER_DAY=0):
        chosen = Enrollment.objects.filter(step=1).select_related("lead").order_by("?")[: events + 1]
        for number, enrollment in enumerate(chosen):
            before_event = counter.value
            started = time.perf_counter()
            with transaction.atomic():
                delivery = enrollment.deliveries.get()
                from leadflow.nurture.services import delivery_clicked

                delivery_clicked(
                    lead_id=enrollment.lead_id, delivery_id=delivery.pk, url="https://example.com/guide"
                )
            while counter.value == before_event:
                time.sleep(0.0005)
            if number:  # the first event warms this process up (URL resolver, templates), untimed
                latencies.append(time.perf_counter() - started)
            enrollment.refresh_from_db()
            assert enrollment.step == 3 and enrollment.state == "completed", enrollment.history
    _ = event_record  # the click is recorded like any behaviour event (activity → scoring → nurture)
    return {
        "leads": leads,
        "senders": senders,
        "seed_s": seed_s,
        "enrollments_taken": taken,
        "emails_accepted": sent,
        "send_s": elapsed,
        "emails_per_s": sent / elapsed,
        "waiting_after_step_1": waiting,
        "baseline_emails_per_s": baseline,
        "event_s": {
            "median": statistics.median(latencies),
            "p90": percentile(sorted(latencies), 90),
            "max": max(latencies),
            "n": len(latencies),
        },
    }


def measured(out: Any, env: dict[str, str], sizes: tuple[int, int, int], counter: Any) -> None:
    out.put(measure(env, *sizes, counter))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument(
        "--senders", type=int, default=1, help="sender processes running batches side by side"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=1,
        help="SMTP connections per sender (LEADFLOW_NURTURE_SMTP_CONNECTIONS)",
    )
    parser.add_argument("--events", type=int, default=50, help="behaviour events to time")
    parser.add_argument("--db", choices=DB_CHOICES, default="sqlite")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    machine = machine_summary()
    print(
        f"machine: {machine['cpus']} CPUs, load {machine['loadavg_at_start']}, Python {machine['python']}, "
        f"leadflow {machine['git']}"
    )
    port = free_port()
    counter, ready = multiprocessing.Value("l", 0), multiprocessing.Event()
    server = multiprocessing.Process(target=smtp_server, args=(port, counter, ready), daemon=True)
    server.start()
    ready.wait(30)
    results = {}
    try:
        for db in selected_dbs(args.db):
            with fresh_database(db) as overrides:
                env = overrides | {
                    "DJANGO_SETTINGS_MODULE": "leadflow.settings",
                    "EMAIL_HOST": "127.0.0.1",
                    "EMAIL_PORT": str(port),
                    "LEADFLOW_NURTURE_QUIET_HOURS": "off",
                    "LEADFLOW_NURTURE_BATCH": "500",
                    "LEADFLOW_NURTURE_SMTP_CONNECTIONS": str(args.connections),
                }
                if db == "sqlite":
                    os.environ.pop("DATABASE_URL", None)
                os.environ.update(env)
                ctx = multiprocessing.get_context("fork")
                out: Any = ctx.Queue()
                proc = ctx.Process(
                    target=measured, args=(out, env, (args.leads, args.senders, args.events), counter)
                )
                proc.start()
                results[db] = out.get()
                proc.join()
    finally:
        server.terminate()
    rows = []
    for db, r in results.items():
        rows.append(
            [
                db,
                r["leads"],
                f"{r['senders']} × {args.connections}",
                r["emails_accepted"],
                f"{r['send_s']:.1f}",
                f"{r['emails_per_s']:.0f}",
                f"{r['baseline_emails_per_s']:.0f}",
                f"{r['emails_per_s'] / r['baseline_emails_per_s']:.0%}",
                verdict(r["emails_per_s"] >= EMAILS_PER_S_TARGET),
                f"{r['event_s']['median'] * 1000:.1f}",
                f"{r['event_s']['max'] * 1000:.1f}",
                verdict(r["event_s"]["max"] <= EVENT_TARGET_S),
            ]
        )
    print(
        table(
            [
                "db",
                "leads",
                "senders × SMTP conns",
                "emails accepted",
                "s",
                "emails/s",
                "bare SMTP emails/s",
                "leadflow / bare",
                "≥ 300/s",
                "event → next step median ms",
                "max ms",
                "≤ 1 s",
            ],
            rows,
        )
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2, default=str))
    sys.exit(0)


if __name__ == "__main__":
    main()
