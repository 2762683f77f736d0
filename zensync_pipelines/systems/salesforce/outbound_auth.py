"""Who may deliver an outbound message, in layers; each check is a pure function that raises OutboundRefused.

Salesforce does not sign outbound messages. What an endpoint can check, cheapest first:
1. the source network (optional): Salesforce publishes the ranges its servers send from;
2. a secret path token (optional): `/webhooks/salesforce/<token>`, known only to the org's admin and zensync,
   compared in constant time so response timing does not reveal it character by character;
3. the OrganizationId in the message must be the configured org (15- or 18-character form on either side).
The OrganizationId is not a secret (it shows in URLs and error pages): it stops a second org pointed at the same
endpoint, not an attacker. The token and the networks are what keep strangers out; TLS keeps the token secret.
None of this makes field values trustworthy: the inbound policy fetches current state with zensync's own login.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Optional, Sequence, Union

from .ids import canonical
from .outbound import OutboundMessage, OutboundRefused

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def parse_networks(text: Optional[str]) -> list[Network]:
    """A comma-separated allow-list (`13.108.0.0/14, 2a01:111::/32, 10.0.0.7`); empty means any source."""
    networks = []
    for item in (text or "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(f"not a network or address in the allow-list: {item.strip()!r}") from None
    return networks


def check_network(remote_address: Optional[str], allowed: Sequence[Network]) -> None:
    if not allowed:
        return
    try:
        address = ipaddress.ip_address(remote_address or "")
    except ValueError:
        raise OutboundRefused("network_denied", "the source address is unknown", 403) from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    if not any(address in network for network in allowed):
        raise OutboundRefused("network_denied", f"source {address} is not in the allowed networks", 403)


def check_token(given: Optional[str], expected: Optional[str]) -> None:
    """With a token configured, the path must carry exactly it. The answer is 404, as for any unknown path."""
    if not expected:
        return
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise OutboundRefused("bad_token", "unknown endpoint", 404)


def check_organization(message: OutboundMessage, expected: str) -> None:
    wanted = canonical(expected)
    if wanted is None:
        raise ValueError("SALESFORCE_ORGANIZATION_ID is not a 15- or 18-character Salesforce id")
    if canonical(message.organization_id) != wanted:
        raise OutboundRefused("organization_mismatch", "the message comes from another organization", 403)


def authenticate(message: OutboundMessage, organization_id: str, remote_address: Optional[str] = None,
                 allowed: Sequence[Network] = (), given_token: Optional[str] = None,
                 expected_token: Optional[str] = None) -> None:
    """Every layer, in order; the receiver checks network and token before it even reads the body."""
    check_network(remote_address, allowed)
    check_token(given_token, expected_token)
    check_organization(message, organization_id)
