"""REST endpoints of the routing app (being built)."""

from ninja import Router

from leadflow.access.api import AUTH

router = Router(tags=["routing"], auth=AUTH)
