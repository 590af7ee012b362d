"""The optional DNS deliverability check of an email domain (no Django here).

email-validator asks DNS whether the domain accepts mail (MX, else A/AAAA; null MX and SPF "-all" count
as no). It is off by default (`LEADFLOW_EMAIL_DNS_CHECK`) and runs in a background task, never inside
the intake flow: a slow resolver must not slow capture down.
"""

from __future__ import annotations

import dns.nameserver
import dns.resolver
from email_validator import EmailUndeliverableError
from email_validator.deliverability import validate_email_deliverability

__all__ = ["domain_deliverability", "resolver_for"]


def resolver_for(*, nameservers: str, timeout: float) -> dns.resolver.Resolver:
    """The system resolver, or the given comma-separated `host[:port]` nameservers, with a time limit."""
    resolver = dns.resolver.Resolver(configure=not nameservers.strip())
    if nameservers.strip():
        servers: list[str | dns.nameserver.Nameserver] = []
        for entry in (e.strip() for e in nameservers.split(",")):
            host, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
            servers.append(dns.nameserver.Do53Nameserver(host, port=int(port or 53)))
        resolver.nameservers = servers
    resolver.lifetime = timeout
    resolver.cache = dns.resolver.LRUCache()
    return resolver


def domain_deliverability(domain: str, *, resolver: dns.resolver.Resolver) -> tuple[bool | None, str]:
    """(True, how) when the domain accepts mail, (False, why) when it cannot, (None, why) when DNS did
    not answer (a timeout or no nameserver: unknown, never held against the lead)."""
    try:
        info = validate_email_deliverability(domain, domain, dns_resolver=resolver)
    except EmailUndeliverableError as err:
        return False, str(err)
    if "unknown-deliverability" in info:
        return None, f"DNS did not answer ({info['unknown-deliverability'].replace('_', ' ')})."
    mx = info.get("mx") or []
    fallback = info.get("mx_fallback_type")
    if fallback:
        return True, f"No MX record; mail goes to the domain's {fallback} record."
    return True, "Mail servers: " + ", ".join(host for _, host in mx[:3]) + "."
