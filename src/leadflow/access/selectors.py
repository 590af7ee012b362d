"""Reads for users, teams and API keys."""

from datetime import timedelta

from django.utils import timezone

from leadflow.access.models import ApiKey
from leadflow.access.services import hash_api_key

# A key's last-used time is refreshed at most this often, so busy keys cost no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The live key matching a presented secret, touching its last-used time."""
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=hash_api_key(secret), revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if api_key is not None and (
        api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION
    ):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key
