"""The shapes of a card payment's objects: PaymentIntent, Charge, InvoicePayment and Refund, with every field the
API reference (and stripe-python's models) gives them, for the test cards the sandbox knows.

Since API version 2025-03-31 neither a Charge nor a PaymentIntent names its invoice: the InvoicePayment links
them (`invoice` and `payment.payment_intent` / `payment.charge`), as here.
"""

from __future__ import annotations

from typing import Any, Optional

from ..store import Obj, Store

# Test payment methods -> (brand, last4, funding), as Stripe's docs list them (docs.stripe.com/testing).
CARDS = {"pm_card_visa": ("visa", "4242"), "pm_card_mastercard": ("mastercard", "4444"),
         "pm_card_amex": ("amex", "8431"), "pm_card_us": ("visa", "4242"),
         "pm_card_chargeDeclined": ("visa", "0002"), "pm_card_visa_chargeDeclined": ("visa", "0002")}
DECLINED = {"pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"}
SUCCEEDS = set(CARDS) - DECLINED
DECLINE_MESSAGE = "Your card was declined."


def card_details(method: str) -> dict[str, Any]:
    brand, last4 = CARDS[method]
    return {"type": "card", "card": {
        "amount_authorized": None, "authorization_code": None, "brand": brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
        "country": "US", "exp_month": 12, "exp_year": 2034, "extended_authorization": {"status": "disabled"},
        "fingerprint": f"fp{brand}{last4}", "funding": "credit",
        "incremental_authorization": {"status": "unavailable"}, "installments": None, "last4": last4,
        "mandate": None, "multicapture": {"status": "unavailable"}, "network": brand,
        "network_token": {"used": False}, "network_transaction_id": None,
        "overcapture": {"maximum_amount_capturable": 0, "status": "unavailable"}, "regulated_status": "unregulated",
        "three_d_secure": None, "wallet": None}}


def new_payment_intent(store: Store, amount: int, currency: str, customer: Optional[str], method: str) -> Obj:
    return {
        "id": store.new_id("pi_", 24), "object": "payment_intent", "amount": amount, "amount_capturable": 0,
        "amount_details": {"tip": {}}, "amount_received": 0, "application": None, "application_fee_amount": None,
        "automatic_payment_methods": None, "canceled_at": None, "cancellation_reason": None,
        "capture_method": "automatic", "client_secret": None, "confirmation_method": "automatic",
        "created": store.now(), "currency": currency, "customer": customer, "customer_account": None,
        "description": "Payment for Invoice", "excluded_payment_method_types": None, "last_payment_error": None,
        "latest_charge": None, "livemode": False, "managed_payments": None, "metadata": {}, "next_action": None,
        "on_behalf_of": None, "payment_method": method, "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None,
                                            "request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"], "processing": None, "receipt_email": None, "review": None,
        "setup_future_usage": None, "shipping": None, "source": None, "statement_descriptor": None,
        "statement_descriptor_suffix": None, "status": "requires_payment_method", "transfer_data": None,
        "transfer_group": None}


def payment_method_object(store: Store, method: str, customer: Optional[str]) -> dict[str, Any]:
    """The PaymentMethod of a test card as Stripe embeds it (in a PaymentIntent's last_payment_error)."""
    brand, last4 = CARDS[method]
    return {
        "id": method, "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                        "postal_code": None, "state": None},
                            "email": None, "name": None, "phone": None, "tax_id": None},
        "card": {"brand": brand, "checks": {"address_line1_check": None, "address_postal_code_check": None,
                                            "cvc_check": "pass"},
                 "country": "US", "display_brand": brand, "exp_month": 12, "exp_year": 2034,
                 "fingerprint": f"fp{brand}{last4}", "funding": "credit", "generated_from": None, "last4": last4,
                 "networks": {"available": [brand], "preferred": None}, "regulated_status": "unregulated",
                 "three_d_secure_usage": {"supported": True}, "wallet": None},
        "created": store.now(), "customer": customer, "customer_account": None, "livemode": False,
        "metadata": {}, "type": "card"}


def new_charge(store: Store, intent: Obj, method: str, declined: bool) -> Obj:
    outcome = {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
               "network_status": "declined_by_network" if declined else "approved_by_network",
               "reason": "generic_decline" if declined else None, "risk_level": "normal", "risk_score": 20,
               "seller_message": "The bank did not return any further details with this decline." if declined
               else "Payment complete.", "type": "issuer_declined" if declined else "authorized"}
    charge_id = store.new_id("ch_", 24)
    return {
        "id": charge_id, "object": "charge", "amount": intent["amount"],
        "amount_captured": 0 if declined else intent["amount"], "amount_refunded": 0, "application": None,
        "application_fee": None, "application_fee_amount": None,
        "balance_transaction": None if declined else store.new_id("txn_", 24),
        "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                        "postal_code": None, "state": None},
                            "email": None, "name": None, "phone": None, "tax_id": None},
        "calculated_statement_descriptor": "ZENSYNC SANDBOX", "captured": not declined, "created": store.now(),
        "currency": intent["currency"], "customer": intent["customer"], "description": intent["description"],
        "disputed": False, "failure_balance_transaction": None,
        "failure_code": "card_declined" if declined else None,
        "failure_message": DECLINE_MESSAGE if declined else None, "fraud_details": {}, "livemode": False,
        "metadata": {}, "on_behalf_of": None, "outcome": outcome, "paid": not declined,
        "payment_intent": intent["id"], "payment_method": method, "payment_method_details": card_details(method),
        "receipt_email": None, "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{charge_id}", "refunded": False, "review": None,
        "shipping": None, "source": None, "source_transfer": None, "statement_descriptor": None,
        "statement_descriptor_suffix": None, "status": "failed" if declined else "succeeded", "transfer_data": None,
        "transfer_group": None}


def new_invoice_payment(store: Store, invoice: Obj, intent: Obj) -> Obj:
    """Open until a charge of its intent succeeds (then `paid`, with amount_paid and paid_at)."""
    return {
        "id": store.new_id("inpay_", 24), "object": "invoice_payment", "amount_paid": None,
        "amount_requested": intent["amount"], "created": store.now(), "currency": intent["currency"],
        "invoice": invoice["id"], "is_default": True, "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
        "status": "open", "status_transitions": {"canceled_at": None, "paid_at": None}}


def new_refund(store: Store, charge: Obj, amount: int, reason: Optional[str], metadata: dict[str, str]) -> Obj:
    return {
        "id": store.new_id("re_", 24), "object": "refund", "amount": amount,
        "balance_transaction": store.new_id("txn_", 24), "charge": charge["id"], "created": store.now(),
        "currency": charge["currency"], "customer": charge["customer"], "customer_account": None,
        "destination_details": {"type": "card", "card": {
            "reference": None, "reference_status": "pending", "reference_type": "acquirer_reference_number",
            "type": "refund"}},
        "metadata": metadata, "payment_intent": charge["payment_intent"], "payment_method": charge["payment_method"],
        "reason": reason, "receipt_number": None, "source_transfer_reversal": None, "status": "succeeded",
        "transfer_reversal": None}
