"""REST endpoints of the scoring app (being built)."""

from ninja import Router

from leadflow.access.api import AUTH

router = Router(tags=["scoring"], auth=AUTH)
