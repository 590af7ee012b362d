"""Background hygiene work: the full duplicate scan, the DNS check of email domains."""

from django_tasks import task

from leadflow.hygiene import services


@task()
def scan(auto_merge: bool = False) -> None:
    """Scores every blocked pair of leads and queues new pairs (idempotent: known pairs are skipped)."""
    services.duplicates_scan(auto_merge=auto_merge)


@task()
def email_domains_check(domains: list[str]) -> None:
    """Asks DNS whether these email domains accept mail (LEADFLOW_EMAIL_DNS_CHECK)."""
    services.email_domains_check(domains=domains)
