"""Routing's background work: SLA reminders and breach checks, notification emails, webhook deliveries.

Every task takes ids and is idempotent: a reminder or check that finds the lead answered, reassigned or
already handled does nothing; a notification is mailed and a delivery made at most once.
"""

from django.utils import timezone
from django_tasks import task

from leadflow.routing.notifications import notification_email_deliver, webhook_attempt
from leadflow.routing.services import sla_clock_check, sla_clock_remind


@task()
def sla_remind(clock_id: int) -> None:
    """Reminds the owner before the deadline, unless the lead has been answered or moved on."""
    sla_clock_remind(clock_id=clock_id)


@task()
def sla_check(clock_id: int) -> None:
    """At the deadline: closes the clock as met, or records the breach and reassigns or escalates."""
    sla_clock_check(clock_id=clock_id)


@task()
def notification_email(notification_id: int) -> None:
    notification_email_deliver(notification_id=notification_id)


@task()
def webhook_deliver(delivery_id: int) -> None:
    """Posts one webhook delivery; on failure enqueues the next attempt with exponential backoff."""
    wait = webhook_attempt(delivery_id=delivery_id)
    if wait is None:
        return
    if webhook_deliver.get_backend().supports_defer:
        webhook_deliver.using(run_after=timezone.now() + wait).enqueue(delivery_id)
    else:
        webhook_deliver.enqueue(delivery_id)
