"""/v1/accounts: the platform creates, lists, updates and deletes its connected accounts (Connect); /v1/account:
the account a key acts in (the platform, or the connected account its `Stripe-Account` header names).

The `account` objects live in the platform's store; each connected account's own objects live in its own state
(see ../accounts.py), created with the account and dropped with it.
"""

from __future__ import annotations

import copy
from typing import Any

from ...core import Request, Response
from ..accounts import PLATFORM_ID
from ..api import Call
from ..errors import StripeError, validation
from ..forms import Params, merge_metadata
from ..host import StripeHost
from ..querying import LIST_PARAMS, range_filter

WRITABLE = ("business_profile", "business_type", "default_currency", "email", "metadata")
PROFILE = ("mcc", "name", "product_description", "support_email", "support_phone", "url")
CONTROLLER = ("fees", "losses", "requirement_collection", "stripe_dashboard")
BUSINESS_TYPES = ("company", "government_entity", "individual", "non_profit")


def _changes(p: Params) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "email" in p:
        changes["email"] = p.email()
    if "business_type" in p:
        changes["business_type"] = p.enum("business_type", BUSINESS_TYPES)
    if "default_currency" in p:
        changes["default_currency"] = (p.str("default_currency") or "usd").lower()
    if "business_profile" in p:
        changes["business_profile"] = p.dict("business_profile", PROFILE)
    return changes


def _platform_only(sb: StripeHost, what: str) -> None:
    if sb.accounts.current_id() is not None:
        raise StripeError(403, f"Only a platform can {what} connected accounts; this request carries a "
                          "Stripe-Account header.", should_retry=False, saved=False)


# What Stripe's example account (fixtures3.json) carries beside its identity: an account's standing. A new
# connected account still owes what onboarding asks; the platform owes nothing.
ONBOARDING = ["business_profile.product_description", "business_profile.support_phone", "business_profile.url",
              "external_account", "tos_acceptance.date", "tos_acceptance.ip"]
SETTINGS = {
    "bacs_debit_payments": {"display_name": None, "service_user_number": None},
    "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
    "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
    "card_payments": {"decline_on": {"avs_failure": True, "cvc_failure": True}, "statement_descriptor_prefix": None,
                      "statement_descriptor_prefix_kana": None, "statement_descriptor_prefix_kanji": None},
    "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
    "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
    "payments": {"statement_descriptor": None, "statement_descriptor_kana": None, "statement_descriptor_kanji": None,
                 "statement_descriptor_prefix_kana": None, "statement_descriptor_prefix_kanji": None},
    "payouts": {"debit_negative_balances": True, "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None},
    "sepa_debit_payments": {},
}


def _standing(account_id: str, due: list[str]) -> dict[str, Any]:
    def requirements(owed: list[str]) -> dict[str, Any]:
        return {"alternatives": [], "current_deadline": None, "currently_due": list(owed),
                "disabled_reason": "requirements.past_due" if owed else None, "errors": [],
                "eventually_due": list(owed), "past_due": [], "pending_verification": []}

    return {"external_accounts": {"object": "list", "data": [], "has_more": False,
                                  "url": f"/v1/accounts/{account_id}/external_accounts"},
            "future_requirements": requirements([]), "requirements": requirements(due),
            "settings": copy.deepcopy(SETTINGS), "tos_acceptance": {"date": None, "ip": None, "user_agent": None}}


def _platform_account() -> dict[str, Any]:
    return {"id": PLATFORM_ID, "object": "account", "business_profile": {"name": "zensync sandbox platform"},
            "business_type": "company", "capabilities": {}, "charges_enabled": True, "controller": {"type": "account"},
            "country": "US", "created": 0, "default_currency": "usd", "details_submitted": True, "email": None,
            "metadata": {}, "payouts_enabled": True, "type": "standard", **_standing(PLATFORM_ID, [])}


def register(sb: StripeHost) -> None:
    platform = sb.accounts.platform.store

    def create(call: Call) -> dict[str, Any]:
        _platform_only(sb, "create")
        p = call.params(WRITABLE + ("type", "country", "controller"))
        kind = p.enum("type", ("custom", "express", "standard"))
        controller = p.dict("controller", CONTROLLER)
        if kind is None and controller is None:
            raise validation("Missing required param: type.", "parameter_missing", "type")
        changes, metadata = _changes(p), p.metadata()
        with platform.lock:
            account = {
                "id": platform.new_id("acct_1", 15), "object": "account",
                "business_profile": {name: None for name in PROFILE}, "business_type": None, "capabilities": {},
                "charges_enabled": False,
                "controller": {"type": "account" if kind == "standard" else "application", **(controller or {})},
                "country": (p.str("country") or "US").upper(), "created": platform.now(), "default_currency": "usd",
                "details_submitted": False, "email": None, "metadata": {}, "payouts_enabled": False,
                "type": kind or "none",
            }
            account.update(_standing(account["id"], ONBOARDING))
            _apply(account, changes, metadata)
            sb.accounts.open(account["id"])
            platform.insert(account)
            return sb.reply(account, p)

    def retrieve(call: Call) -> dict[str, Any]:
        p = call.params()
        own = sb.accounts.current_id()
        if own is not None and call.id != own:
            raise StripeError(403, f"The provided key does not have access to account '{call.id}'.",
                              code="account_invalid", should_retry=False, saved=False)
        if call.id == PLATFORM_ID:
            return _platform_account()
        with platform.lock:
            return sb.reply(platform.get(call.id, "account"), p)

    def retrieve_own(call: Call) -> dict[str, Any]:
        p = call.params()
        own = sb.accounts.current_id()
        if own is None:
            return _platform_account()
        with platform.lock:
            return sb.reply(platform.get(own, "account"), p)

    def update(call: Call) -> dict[str, Any]:
        _platform_only(sb, "update")
        p = call.params(WRITABLE)
        changes, metadata = _changes(p), p.metadata()
        with platform.lock:
            account = platform.get(call.id, "account")
            _apply(account, changes, metadata)
            platform.touched(account)
            return sb.reply(account, p)

    def delete(call: Call) -> dict[str, Any]:
        _platform_only(sb, "delete")
        call.params()
        with platform.lock:
            account = platform.get(call.id, "account")
            sb.accounts.close(account["id"])  # its objects go with it; its Stripe-Account header is refused now
            return platform.delete(account)

    def list_accounts(call: Call) -> dict[str, Any]:
        _platform_only(sb, "list")
        p = call.params(LIST_PARAMS)
        in_range = range_filter(p)
        with platform.lock:
            return sb.list_reply(p, (a for a in platform.newest_first("account") if in_range(a)), "/v1/accounts")

    def revoke_account(request: Request) -> Response:
        """`{"revoked": true}`: the connected account deauthorised the platform (its data stays); false: it
        connected again."""
        account_id = request.path.rstrip("/").rsplit("/", 1)[-1]  # control routes get no path params
        if not sb.accounts.exists(account_id) or account_id == PLATFORM_ID:
            return Response(404, {"error": f"no connected account {account_id!r}"})
        body = _json(request)
        if body is None:
            return Response(400, {"error": "the body must be a JSON object"})
        revoked = bool(body.get("revoked", True))
        (sb.accounts.revoked_accounts.add if revoked else sb.accounts.revoked_accounts.discard)(account_id)
        return Response(200, {"id": account_id, "revoked": revoked})

    def revoke_key(request: Request) -> Response:
        """`{"key": "sk_test_...", "revoked": true}`: the key was rolled or deleted in the dashboard."""
        body = _json(request)
        key = str((body or {}).get("key") or "")
        if not key.startswith("sk_test_"):
            return Response(400, {"error": "key must be an sk_test_ key"})
        revoked = bool(body.get("revoked", True))
        (sb.accounts.revoked_keys.add if revoked else sb.accounts.revoked_keys.discard)(key)
        return Response(200, {"revoked": revoked})

    sb.router.add("POST", "/_sandbox/accounts/{id}", revoke_account)
    sb.router.add("POST", "/_sandbox/keys", revoke_key)
    sb.api("POST", "/v1/accounts", create)
    sb.api("GET", "/v1/accounts", list_accounts)
    sb.api("GET", "/v1/accounts/{id}", retrieve)
    sb.api("POST", "/v1/accounts/{id}", update)
    sb.api("DELETE", "/v1/accounts/{id}", delete)
    sb.api("GET", "/v1/account", retrieve_own)


def _json(request: Request) -> dict[str, Any] | None:
    try:
        body = request.json() or {}
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _apply(account: dict[str, Any], changes: dict[str, Any], metadata: Any) -> None:
    for name, value in changes.items():
        account[name] = {**account[name], **(value or {})} if name == "business_profile" else value
    account["metadata"] = merge_metadata(account["metadata"], metadata)
