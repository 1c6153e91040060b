"""Stripe webhook events: verified, recorded once, processed in the same
transaction as the record (a crash rolls both back and Stripe's retry processes
the event; a duplicate delivery finds the record and is acknowledged)."""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction

from shop.core.tasks import enqueue_on_commit
from shop.payments import services
from shop.payments.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    StripeEvent,
    StripeEventOutcome,
)
from shop.payments.services import Applied

logger = logging.getLogger(__name__)


class WebhookRejected(Exception):
    """The delivery is not a verified Stripe event (answer 400, record nothing)."""


class WebhookNotConfigured(Exception):
    """STRIPE_WEBHOOK_SECRET is not set (embedded mode only)."""


@dataclass(frozen=True)
class Receipt:
    event_id: str
    duplicate: bool
    outcome: str = ""


def stripe_event_receive(*, payload: bytes, signature: str | None) -> Receipt:
    """Verify one webhook delivery and process its event exactly once."""
    event = _verified_event(payload, signature)
    return stripe_event_process(event=event)


def _verified_event(payload: bytes, signature: str | None) -> dict:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise WebhookNotConfigured(
            "STRIPE_WEBHOOK_SECRET is not set: copy the signing secret (whsec_...) "
            "from `stripe listen` or the Stripe dashboard into .env."
        )
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance)
    except UnicodeDecodeError as error:
        raise WebhookRejected("The body is not UTF-8.") from error
    except stripe.SignatureVerificationError as error:
        raise WebhookRejected(f"Stripe-Signature refused: {error}") from error
    # Stripe's check only looks back; a timestamp from the future is as suspect.
    stamp = next(p[2:] for p in signature.split(",") if p.startswith("t="))
    if int(stamp) > time.time() + tolerance:
        raise WebhookRejected("Stripe-Signature refused: timestamp in the future.")
    try:
        event = json.loads(text)
    except ValueError as error:
        raise WebhookRejected("The body is not JSON.") from error
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and 0 < len(event["id"]) <= 255
        and isinstance(event.get("type"), str)
        and 0 < len(event["type"]) <= 100
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise WebhookRejected("Not a Stripe event: id, type and data.object needed.")
    return event


def stripe_event_process(*, event: dict) -> Receipt:
    """Record a verified event and apply it, in one transaction; a duplicate event
    id (a replay, or a delivery racing this one) is acknowledged untouched."""
    obj = event["data"]["object"]
    created = event.get("created")
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(
                    stripe_id=event["id"],
                    type=event["type"],
                    object_id=str(obj.get("id") or "")[:255],
                    livemode=bool(event.get("livemode")),
                    api_version=str(event.get("api_version") or "")[:40],
                    stripe_created=(
                        datetime.fromtimestamp(created, tz=UTC)
                        if isinstance(created, int) and 0 < created < 2**33
                        else None
                    ),
                    payload=event,
                    outcome=StripeEventOutcome.IGNORED,
                )
        except IntegrityError:
            return Receipt(event["id"], duplicate=True)
        handler = HANDLERS.get(event["type"])
        applied = (
            handler(obj)
            if handler
            else Applied("Event type not handled.", StripeEventOutcome.IGNORED)
        )
        record.outcome = applied.outcome
        record.note = applied.note
        record.payment = applied.payment
        record.order = applied.order
        record.save(update_fields=["outcome", "note", "payment", "order"])
    logger.info("Stripe event %s %s: %s", event["id"], event["type"], applied.note)
    return Receipt(event["id"], duplicate=False, outcome=str(applied.outcome))


# ---------------------------------------------------------------- handlers

SESSION, INTENT = PaymentKind.CHECKOUT_SESSION, PaymentKind.PAYMENT_INTENT
UNMATCHED = Applied("No payment or order of this shop.", StripeEventOutcome.UNMATCHED)


def _payment_of(obj: dict, kind: str, *, money: bool = False) -> tuple[int, int] | None:
    """(payment id, order id) of the Checkout Session or PaymentIntent ``obj``;
    with ``money``, one of our orders paid outside our attempts is recorded."""
    if kind == PaymentKind.CHECKOUT_SESSION:
        session_id = obj.get("id")
        intent_id = services.stripe_object_id(obj.get("payment_intent"))
    else:
        session_id, intent_id = None, obj.get("id")
    found = services.payment_locate(
        session_id=session_id, intent_id=intent_id, metadata=obj.get("metadata")
    )
    if found is None and money:
        found = services.payment_record_unknown(kind=kind, obj=obj)
    return found


def _session_completed(session: dict) -> Applied:
    paid = session.get("payment_status") == "paid"
    if not (found := _payment_of(session, SESSION, money=paid)):
        return UNMATCHED
    payment_id, order_id = found
    if session.get("payment_status") not in ("paid", "unpaid"):
        # "no_payment_required": an order of ours never costs nothing at Stripe.
        return services.money_received(
            payment_id=payment_id,
            order_id=order_id,
            amount=0,
            currency=session.get("currency") or "",
        )
    return services.session_state_apply(
        payment_id=payment_id, order_id=order_id, session=session
    )


def _session_async_succeeded(session: dict) -> Applied:
    if not (found := _payment_of(session, SESSION, money=True)):
        return UNMATCHED
    payment_id, order_id = found
    return services.money_received(
        payment_id=payment_id,
        order_id=order_id,
        amount=int(session.get("amount_total") or 0),
        currency=session.get("currency") or "",
        intent_id=services.stripe_object_id(session.get("payment_intent")),
    )


def _session_async_failed(session: dict) -> Applied:
    if not (found := _payment_of(session, SESSION)):
        return UNMATCHED
    payment_id, order_id = found
    return services.payment_ended(
        payment_id=payment_id,
        order_id=order_id,
        status=PaymentStatus.FAILED,
        message="The delayed payment failed.",
        cancel_order=True,
    )


def _session_expired(session: dict) -> Applied:
    if not (found := _payment_of(session, SESSION)):
        return UNMATCHED
    payment_id, order_id = found
    return services.payment_ended(
        payment_id=payment_id,
        order_id=order_id,
        status=PaymentStatus.EXPIRED,
        cancel_order=True,
    )


def _intent_succeeded(intent: dict) -> Applied:
    if not (found := _payment_of(intent, INTENT, money=True)):
        return UNMATCHED
    payment_id, order_id = found
    return services.intent_state_apply(
        payment_id=payment_id, order_id=order_id, intent=intent
    )


def _intent_processing(intent: dict) -> Applied:
    if not (found := _payment_of(intent, INTENT)):
        return UNMATCHED
    return services.payment_processing(payment_id=found[0], order_id=found[1])


def _intent_failed(intent: dict) -> Applied:
    if not (found := _payment_of(intent, INTENT)):
        return UNMATCHED
    error = intent.get("last_payment_error") or {}
    return services.payment_failure_noted(
        payment_id=found[0],
        order_id=found[1],
        message=str(error.get("message") or error.get("code") or "")[:1000],
    )


def _intent_canceled(intent: dict) -> Applied:
    if not (found := _payment_of(intent, INTENT)):
        return UNMATCHED
    return services.payment_ended(
        payment_id=found[0],
        order_id=found[1],
        status=PaymentStatus.CANCELED,
        message=str(intent.get("cancellation_reason") or ""),
    )


def _charge_refunded(charge: dict) -> Applied:
    """A refund of the charge was asked for (at Stripe, the charge's
    ``amount_refunded`` counts pending refunds too): the refunds it lists are
    applied as they are, and Stripe is asked for them when it lists none."""
    found = services.payment_locate(
        intent_id=services.stripe_object_id(charge.get("payment_intent")),
        metadata=charge.get("metadata"),
    )
    if not found:
        return UNMATCHED
    refunds = charge.get("refunds")
    listed = refunds.get("data") if isinstance(refunds, dict) else None
    if not listed:
        enqueue_on_commit(services.REFUNDS_SYNC_TASK, found[0])
        return Applied(
            f"Refund of {int(charge.get('amount_refunded') or 0)} asked for; its "
            "state is fetched from Stripe.",
            payment=Payment.objects.get(pk=found[0]),
        )
    applied = UNMATCHED
    for refund in listed:
        if isinstance(refund, dict) and isinstance(refund.get("id"), str):
            applied = services.refund_state_apply(
                payment_id=found[0], order_id=found[1], refund=refund
            )
    return applied


def _refund_changed(refund: dict) -> Applied:
    """A refund was created or changed state (pending, succeeded, failed...)."""
    if not isinstance(refund.get("id"), str):
        return UNMATCHED
    found = services.payment_locate(
        intent_id=services.stripe_object_id(refund.get("payment_intent")),
        metadata=refund.get("metadata"),
    )
    if not found:
        return UNMATCHED
    return services.refund_state_apply(
        payment_id=found[0], order_id=found[1], refund=refund
    )


HANDLERS: dict[str, Callable[[dict], Applied]] = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _session_async_succeeded,
    "checkout.session.async_payment_failed": _session_async_failed,
    "checkout.session.expired": _session_expired,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.processing": _intent_processing,
    "payment_intent.payment_failed": _intent_failed,
    "payment_intent.canceled": _intent_canceled,
    "charge.refunded": _charge_refunded,
    "charge.refund.updated": _refund_changed,
    "refund.created": _refund_changed,
    "refund.updated": _refund_changed,
    "refund.failed": _refund_changed,
}
