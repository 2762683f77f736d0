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
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Union

from ... import config
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


@dataclass(frozen=True)
class OutboundSettings:
    """The receiver's configuration for Salesforce, checked once at start-up so a typo fails there, in one line
    naming the variable, rather than as a refused message at 3 a.m."""

    organization_id: str
    token: Optional[str] = field(default=None, repr=False)  # a secret: never printed
    networks: tuple[Network, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "OutboundSettings":
        organization = (environ.get(config.SALESFORCE_ORGANIZATION_ID) or "").strip()
        if canonical(organization) is None:
            raise ValueError(f"{config.SALESFORCE_ORGANIZATION_ID} must be the org's 15- or 18-character id "
                             "(Setup > Company Information)" + ("" if organization else "; it is not set"))
        try:
            networks = tuple(parse_networks(environ.get(config.SALESFORCE_OUTBOUND_NETWORKS)))
        except ValueError as error:
            raise ValueError(f"{config.SALESFORCE_OUTBOUND_NETWORKS}: {error}") from None
        return cls(organization, (environ.get(config.SALESFORCE_OUTBOUND_TOKEN) or "").strip() or None, networks)

    def check_request(self, remote_address: Optional[str], given_token: Optional[str]) -> None:
        """The layers that need no body: run them before reading it."""
        check_network(remote_address, self.networks)
        check_token(given_token, self.token)

    def check_message(self, message: OutboundMessage) -> None:
        check_organization(message, self.organization_id)
