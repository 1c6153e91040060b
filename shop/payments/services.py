"""Payments: start a Stripe payment for an order, apply what Stripe reports, give
money back, and expire unpaid orders without ever losing a payment.

Locks are always taken in the same order: the order row, then its payment rows,
then (through ``order_transition``) variant rows by primary key. Calls to Stripe
never happen while a row is locked.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn
from urllib.parse import urlsplit

import stripe
from django.db import transaction
from django.utils import timezone

from shop.core.tasks import enqueue_on_commit
from shop.orders.errors import OrderError
from shop.orders.models import (
    REVIVABLE_CANCEL_REASONS,
    CancelReason,
    Order,
    OrderStatus,
)
from shop.orders.selectors import order_list
from shop.orders.services import order_transition
from shop.payments.errors import ErrorCode, PaymentError
from shop.payments.models import (
    LIVE_STATUSES,
    REFUND_NOT_DONE,
    REFUND_ON_ITS_WAY,
    STRIPE_REFUND_STATUSES,
    Payment,
    PaymentKind,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeEventOutcome,
)
from shop.payments.money import to_minor_units
from shop.payments.stripe_client import (
    never_reached_stripe,
    stripe_answered,
    stripe_client,
    stripe_message,
)

logger = logging.getLogger(__name__)

REFUND_TASK = "workers.tasks.payments.payment_refund"
REFUNDS_SYNC_TASK = "workers.tasks.payments.payment_refunds_sync"
# Stripe unreachable, rate-limiting or failing on its side: worth trying again.
TRANSIENT_STRIPE_ERRORS = (
    stripe.APIConnectionError,
    stripe.RateLimitError,
    stripe.APIError,
)
# Stripe takes a Checkout Session's expires_at 30 minutes to 24 hours after its
# creation; the margins absorb clock differences and a retried request.
SESSION_MIN_LIFETIME = timedelta(minutes=35)
SESSION_MAX_LIFETIME = timedelta(hours=23, minutes=55)
# Retrying an unanswered attempt must still satisfy Stripe's 30-minute minimum.
SESSION_RETRY_MIN_LIFETIME = timedelta(minutes=31)
# An open session closer than this to its end is not handed out again.
SESSION_REUSE_MARGIN = timedelta(minutes=5)
URL_MAX_LENGTH = 2048

S = PaymentStatus
S_PROCESSED, S_FLAGGED = StripeEventOutcome.PROCESSED, StripeEventOutcome.FLAGGED


@dataclass(frozen=True)
class Applied:
    """What applying a piece of Stripe news did, for the event ledger."""

    note: str
    outcome: str = StripeEventOutcome.PROCESSED
    payment: Payment | None = None
    order: Order | None = None


# ---------------------------------------------------------------- the order


def payable_order(*, user, order_id: int | None, order_token: str | None) -> Order:
    """The order a buyer names for payment: by id one they may read (their own; any
    for staff with orders.view_order), by its secret token anyone's. NOT_FOUND for
    anything else."""
    if (order_id is None) == (order_token is None):
        raise PaymentError(
            ErrorCode.INVALID,
            "Give exactly one of orderId and orderToken.",
            field="orderId",
        )
    if order_token is not None:
        field, orders = "orderToken", Order.objects.filter(token=order_token)
    else:
        field = "orderId"
        orders = order_list(user=user, orders=Order.objects.filter(pk=order_id))
    order = orders.first()
    if order is None:
        raise PaymentError(ErrorCode.NOT_FOUND, "No such order.", field=field)
    return order


def _checked_url(value: str, field: str) -> str:
    value = (value or "").strip()
    try:
        parts = urlsplit(value) if len(value) <= URL_MAX_LENGTH else None
        host = parts and parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = host = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not host
        or any(char.isspace() or ord(char) < 32 for char in value)
    ):
        raise PaymentError(
            ErrorCode.INVALID,
            f"Give an http(s) URL of at most {URL_MAX_LENGTH} characters.",
            field=field,
        )
    return value


def _metadata(payment: Payment, order: Order) -> dict[str, str]:
    return {
        "order_id": str(order.pk),
        "order_number": order.number,
        "payment_id": str(payment.pk),
    }


# ---------------------------------------------------------------- starting a payment


def payment_checkout_session_create(
    *, order: Order, success_url: str, cancel_url: str
) -> Payment:
    """A hosted Checkout Session for an order awaiting payment, or the open one it
    already has.

    The session's line items and total are the order's, in minor units; its
    ``expires_at`` covers the order's reservation (30 minutes to 24 hours ahead, as
    Stripe requires) and the reservation is extended to it, so the stock is held
    for as long as the buyer can pay. The create call carries an idempotency key
    kept with the attempt: a retry after an unanswered call returns the same
    session. Stripe refusing or unreachable: PAYMENT_ERROR, nothing saved.
    """
    problems = []
    for value, field in ((success_url, "successUrl"), (cancel_url, "cancelUrl")):
        try:
            _checked_url(value, field)
        except PaymentError as error:
            problems.append(error)
    PaymentError.raise_any(problems)
    client = stripe_client()
    payment = _attempt_start(
        order_id=order.pk,
        kind=PaymentKind.CHECKOUT_SESSION,
        success_url=success_url.strip(),
        cancel_url=cancel_url.strip(),
    )
    if payment.status == S.OPEN:
        return payment
    try:
        session = client.v1.checkout.sessions.create(
            params=_session_params(payment),
            options={"idempotency_key": payment.idempotency_key},
        ).to_dict()
    except stripe.StripeError as error:
        _attempt_failed(payment, error)
    return _attempt_opened(
        payment,
        session_id=session["id"],
        checkout_url=session.get("url") or "",
        intent_id=stripe_object_id(session.get("payment_intent")),
    )


def payment_intent_create(*, order: Order) -> Payment:
    """A PaymentIntent (for Stripe Elements) for an order awaiting payment, or the
    open one it already has; same idempotency and errors as Checkout Sessions.
    The buyer must pay within the order's reservation (``reserved_until``)."""
    client = stripe_client()
    payment = _attempt_start(order_id=order.pk, kind=PaymentKind.PAYMENT_INTENT)
    if payment.status == S.OPEN:
        return payment
    try:
        intent = client.v1.payment_intents.create(
            params=_intent_params(payment),
            options={"idempotency_key": payment.idempotency_key},
        ).to_dict()
    except stripe.StripeError as error:
        _attempt_failed(payment, error)
    return _attempt_opened(
        payment, intent_id=intent["id"], client_secret=intent["client_secret"]
    )


@transaction.atomic
def _attempt_start(
    *, order_id: int, kind: str, success_url: str = "", cancel_url: str = ""
) -> Payment:
    """The order's open payment of this kind, an unanswered attempt to retry with
    its own idempotency key, or a new attempt (CREATING)."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise PaymentError(
            ErrorCode.INVALID_STATUS,
            f"Order {order.number} is {OrderStatus(order.status).label.lower()}, "
            "not awaiting payment.",
            field="orderId",
        )
    now = timezone.now()
    session = kind == PaymentKind.CHECKOUT_SESSION
    live = (
        Payment.objects.select_for_update()
        .filter(order=order, kind=kind, status__in=[S.CREATING, S.OPEN])
        .first()
    )
    if live is not None:
        if not session:
            return live
        if live.status == S.OPEN and live.expires_at > now + SESSION_REUSE_MARGIN:
            return live
        if live.status == S.CREATING and live.expires_at >= (
            now + SESSION_RETRY_MIN_LIFETIME
        ):
            return live
        # Too close to its end to hand out or to retry as it was: a new session
        # replaces it (this one dies on its own within minutes).
        live.status = S.EXPIRED if live.status == S.OPEN else S.FAILED
        live.failure_message = "Replaced by a new session near its expiry."
        live.save(update_fields=["status", "failure_message", "updated_at"])
    try:
        amount = to_minor_units(order.total, order.currency)
    except ValueError as error:
        raise PaymentError(ErrorCode.PAYMENT_ERROR, str(error)) from error
    expires_at = None
    if session:
        _line_items(order, order.currency.lower(), amount)  # refuse before saving
        expires_at = min(
            max(order.reserved_until, now + SESSION_MIN_LIFETIME),
            now + SESSION_MAX_LIFETIME,
        ).replace(microsecond=0)
    return Payment.objects.create(
        order=order,
        kind=kind,
        status=S.CREATING,
        amount=amount,
        currency=order.currency.lower(),
        idempotency_key=f"shop-payment-{uuid.uuid4().hex}",
        success_url=success_url,
        cancel_url=cancel_url,
        expires_at=expires_at,
    )


def _line_items(order: Order, currency: str, amount: int) -> list[dict]:
    """The order's lines as Checkout line items at what the buyer pays for them
    (after the voucher's discount on the line), and its tax as a line of its own
    when prices exclude it; PAYMENT_ERROR unless they and the shipping (the
    session's one shipping option, ``_session_params``) add up to ``amount``
    exactly.

    A discounted line whose amount does not divide by its quantity (3 units,
    9.50 after the discount) becomes two items: the units at the floor share and
    the leftover minor units one each (1 x 3.16 and 2 x 3.17: 9.50 exactly).
    Stripe then shows and charges exactly the order's total."""
    line_items = []
    try:
        for line in order.lines.all():
            name = line.product_name
            if line.variant_name:
                name = f"{name} ({line.variant_name})"
            paid = to_minor_units(
                line.unit_price * line.quantity - line.discount, currency
            )
            share, extra = divmod(paid, line.quantity)
            for quantity, unit_amount in (
                (line.quantity - extra, share),
                (extra, share + 1),
            ):
                if quantity:
                    line_items.append(
                        _line_item(name, line.sku, quantity, unit_amount, currency)
                    )
        if not order.prices_include_tax and order.tax:
            line_items.append(
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": to_minor_units(order.tax, currency),
                        "product_data": {"name": "Tax"},
                    },
                }
            )
        shipping = to_minor_units(order.shipping_price, currency)
    except ValueError as error:
        raise PaymentError(ErrorCode.PAYMENT_ERROR, str(error)) from error
    total = shipping + sum(
        item["quantity"] * item["price_data"]["unit_amount"] for item in line_items
    )
    if total != amount:
        raise PaymentError(
            ErrorCode.PAYMENT_ERROR,
            f"Order {order.number}: its lines do not add up to its total.",
        )
    return line_items


def _line_item(
    name: str, sku: str, quantity: int, unit_amount: int, currency: str
) -> dict:
    return {
        "quantity": quantity,
        "price_data": {
            "currency": currency,
            "unit_amount": unit_amount,
            "product_data": {"name": name, "metadata": {"sku": sku}},
        },
    }


def _session_params(payment: Payment) -> dict:
    """The Checkout Session for an attempt: the same every time it is asked for."""
    order = payment.order
    line_items = _line_items(order, payment.currency, payment.amount)
    metadata = _metadata(payment, order)
    params = {
        "mode": "payment",
        "line_items": line_items,
        "success_url": payment.success_url,
        "cancel_url": payment.cancel_url,
        "client_reference_id": str(order.pk),
        "customer_email": order.email,
        "expires_at": int(payment.expires_at.timestamp()),
        "metadata": metadata,
        "payment_intent_data": {
            "metadata": metadata,
            "description": f"Order {order.number}",
        },
    }
    if order.shipping_method_name or order.shipping_price:
        # The shipping chosen at checkout, as the session's one shipping option.
        params["shipping_options"] = [
            {
                "shipping_rate_data": {
                    "type": "fixed_amount",
                    "display_name": order.shipping_method_name or "Shipping",
                    "fixed_amount": {
                        "amount": to_minor_units(
                            order.shipping_price, payment.currency
                        ),
                        "currency": payment.currency,
                    },
                }
            }
        ]
    return params


def _intent_params(payment: Payment) -> dict:
    order = payment.order
    return {
        "amount": payment.amount,
        "currency": payment.currency,
        "automatic_payment_methods": {"enabled": True},
        "description": f"Order {order.number}",
        "receipt_email": order.email,
        "metadata": _metadata(payment, order),
    }


def _attempt_failed(payment: Payment, error: stripe.StripeError) -> NoReturn:
    """Stripe refused or did not answer: PAYMENT_ERROR. When Stripe surely created
    nothing the attempt is forgotten; when it may have, the attempt stays
    (CREATING, invisible to storefronts) so the retry sends its idempotency key
    again and gets the same session instead of a second one."""
    if stripe_answered(error) or never_reached_stripe(error):
        Payment.objects.filter(pk=payment.pk, status=S.CREATING).delete()
    if stripe_answered(error):  # a refusal (a card, a parameter): business as usual
        logger.warning(
            "Stripe refused payment %s of order %s: %s",
            payment.pk,
            payment.order_id,
            error,
        )
    else:  # Stripe unreachable or failing: an outage, for the logs' ERROR and Sentry
        logger.error(
            "Stripe did not answer for payment %s of order %s: %s",
            payment.pk,
            payment.order_id,
            error,
        )
    raise PaymentError(ErrorCode.PAYMENT_ERROR, stripe_message(error)) from error


def _attempt_opened(
    payment: Payment,
    *,
    session_id: str | None = None,
    checkout_url: str = "",
    intent_id: str | None = None,
    client_secret: str = "",
) -> Payment:
    """Save what Stripe created; a session extends the order's reservation."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=payment.order_id)
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status == S.CREATING:
            payment.status = S.OPEN
        payment.stripe_checkout_session_id = session_id or (
            payment.stripe_checkout_session_id
        )
        payment.stripe_payment_intent_id = intent_id or payment.stripe_payment_intent_id
        payment.checkout_url = checkout_url or payment.checkout_url
        payment.client_secret = client_secret or payment.client_secret
        payment.save()
        pending = order.status == OrderStatus.PENDING_PAYMENT
        if pending and payment.expires_at and payment.expires_at > order.reserved_until:
            order.reserved_until = payment.expires_at
            order.save(update_fields=["reserved_until", "updated_at"])
    if not pending:
        # Canceled or paid while Stripe was answering: close what was just made.
        try:
            payment_close_at_stripe(payment_id=payment.pk)
        except PaymentError:
            logger.warning("Payment %s could not be closed at Stripe", payment.pk)
        raise PaymentError(
            ErrorCode.INVALID_STATUS,
            f"Order {order.number} is no longer awaiting payment.",
            field="orderId",
        )
    return payment


# ---------------------------------------------------------------- Stripe's news


def stripe_object_id(value) -> str | None:
    """An id from a field Stripe may send as an id or as an expanded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        return value.get("id")
    return None


def payment_locate(
    *,
    session_id: str | None = None,
    intent_id: str | None = None,
    metadata: dict | None = None,
) -> tuple[int, int] | None:
    """(payment id, order id) of the payment Stripe is talking about: by its
    Checkout Session or PaymentIntent id, else by the ids we put in metadata."""
    payments = Payment.objects.values_list("pk", "order_id")
    found = None
    if session_id:
        found = payments.filter(stripe_checkout_session_id=session_id).first()
    if found is None and intent_id:
        found = payments.filter(stripe_payment_intent_id=intent_id).first()
    metadata = metadata or {}
    payment_id = str(metadata.get("payment_id") or "")
    order_id = str(metadata.get("order_id") or "")
    if found is None and payment_id.isdigit() and order_id.isdigit():
        found = payments.filter(pk=int(payment_id), order_id=int(order_id)).first()
    return found


def payment_record_unknown(*, kind: str, obj: dict) -> tuple[int, int] | None:
    """A payment Stripe reports for one of our orders (named in its metadata, id
    and number both matching) that we have no attempt for: record it so its
    money is applied and never lost."""
    session = kind == PaymentKind.CHECKOUT_SESSION
    amount = int(obj.get("amount_total" if session else "amount") or 0)
    currency = obj.get("currency") or ""
    metadata = obj.get("metadata") or {}
    order_id, number = metadata.get("order_id"), metadata.get("order_number")
    if not str(order_id or "").isdigit() or not number or amount <= 0:
        return None
    order = Order.objects.filter(pk=int(order_id), number=number).first()
    if order is None:
        return None
    payment = Payment.objects.create(
        order=order,
        kind=kind,
        status=S.PROCESSING,
        amount=amount,
        currency=(currency or "").lower(),
        idempotency_key=f"stripe-{obj['id']}"[:100],
        stripe_checkout_session_id=obj["id"] if session else None,
        stripe_payment_intent_id=(
            stripe_object_id(obj.get("payment_intent")) if session else obj["id"]
        ),
        needs_attention=True,
        attention_note="Reported by Stripe without a payment attempt of the shop.",
    )
    return payment.pk, order.pk


def _locked(payment_id: int, order_id: int) -> tuple[Order, Payment]:
    order = Order.objects.select_for_update().get(pk=order_id)
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    return order, payment


def _flag(payment: Payment, note: str, *, level: int = logging.WARNING) -> None:
    payment.needs_attention = True
    payment.attention_note = "\n".join(filter(None, [payment.attention_note, note]))
    logger.log(level, "Payment %s needs attention: %s", payment.pk, note)


def money_received(
    *,
    payment_id: int,
    order_id: int,
    amount: int,
    currency: str,
    intent_id: str | None = None,
) -> Applied:
    """Stripe took ``amount`` for a payment: mark its order PAID, unless the amount
    or currency differ from the order's (flagged, order unchanged). Money for an
    order canceled for want of payment re-reserves its stock (PAID) or, if that is
    gone, is refunded; money for an order its buyer or staff canceled is refunded
    (that cancellation is final), and so is money for an order already paid. Any
    refund that arrived before this news is applied now."""
    with transaction.atomic():
        order, payment = _locked(payment_id, order_id)
        if intent_id and not payment.stripe_payment_intent_id:
            payment.stripe_payment_intent_id = intent_id
        if payment.amount_received:
            payment.save()
            return Applied(
                f"Payment already recorded for order {order.number}.",
                payment=payment,
                order=order,
            )
        payment.amount_received = amount
        payment.status = S.SUCCEEDED
        applied = _money_applied(order, payment, amount, currency.lower())
        if payment.amount_refunded or payment.amount_refund_pending:
            order.refresh_from_db(fields=["status"])  # it may have just moved
            applied = _refund_settled(
                order,
                payment,
                note=applied.note,
                flagged=applied.outcome == S_FLAGGED,
            )
        payment.save()
        return applied


def _money_applied(order: Order, payment: Payment, amount: int, currency: str):
    expected = to_minor_units(order.total, order.currency)
    if (
        amount != payment.amount
        or currency != payment.currency
        or payment.amount != expected
        or payment.currency != order.currency.lower()
    ):
        return _money_set_aside(
            order,
            payment,
            f"Amount mismatch: received {amount} {currency}, order {order.number} "
            f"totals {expected} {order.currency.lower()} (minor units). The order "
            "was not marked paid.",
        )
    if order.status == OrderStatus.PENDING_PAYMENT:
        order_transition(order_id=order.pk, to_status=OrderStatus.PAID)
        payment.settles_order = True
        return Applied(f"Order {order.number} paid.", payment=payment, order=order)
    if (
        order.status == OrderStatus.CANCELED
        and order.cancel_reason not in REVIVABLE_CANCEL_REASONS
    ):
        who = {
            CancelReason.BUYER: "by its buyer",
            CancelReason.STAFF: "by staff",
        }.get(order.cancel_reason, "before this payment")
        return _money_set_aside(
            order,
            payment,
            f"Paid after order {order.number} was canceled {who}: that cancellation "
            "is final, so the payment is being refunded.",
            refund=True,
        )
    if order.status == OrderStatus.CANCELED:
        try:
            order_transition(
                order_id=order.pk, to_status=OrderStatus.PAID, payment_received=True
            )
        except OrderError as error:
            return _money_set_aside(
                order,
                payment,
                f"Paid after order {order.number} was canceled, and its items are "
                f"gone ({error.message}): the payment is being refunded.",
                refund=True,
            )
        payment.settles_order = True
        return _money_set_aside(
            order,
            payment,
            f"Paid after order {order.number} was canceled: its stock was reserved "
            "again and the order is PAID.",
        )
    return _money_set_aside(
        order,
        payment,
        f"A second payment for order {order.number}, which is already "
        f"{OrderStatus(order.status).label.lower()}: it is being refunded.",
        refund=True,
    )


def _money_set_aside(
    order: Order, payment: Payment, note: str, *, refund: bool = False
) -> Applied:
    """Money that did not simply pay its order: flagged for staff, and with
    ``refund`` given back through the refund task."""
    if refund:
        payment.refund_requested_at = payment.refund_requested_at or timezone.now()
        enqueue_on_commit(REFUND_TASK, payment.pk)
    _flag(payment, note)
    return Applied(note, StripeEventOutcome.FLAGGED, payment, order)


def refund_state_apply(*, payment_id: int, order_id: int, refund: dict) -> Applied:
    """Apply a refund's state as Stripe reports it (the answer to our refund call,
    a refund.* or charge.refund.updated event, a charge's list of refunds).

    Only a SUCCEEDED refund counts as money given back: a full one of the payment
    that paid the order makes the order REFUNDED, a partial one is recorded and
    changes nothing else; a pending one waits. A refund that fails or is canceled
    gave nothing back: the payment is flagged for staff, logged as an ERROR, and
    no status claims a refund. Reports may arrive in any order: a refund never
    goes back from failed or canceled, nor from succeeded to pending; one
    reported before its payment waits for it."""
    status = STRIPE_REFUND_STATUSES.get(refund.get("status"), RefundStatus.PENDING)
    with transaction.atomic():
        order, payment = _locked(payment_id, order_id)
        row = Refund.objects.select_for_update().filter(stripe_refund_id=refund["id"])
        row = row.first()
        previous = row.status if row else None
        if row is None:
            row = Refund(payment=payment, stripe_refund_id=refund["id"])
        if _refund_may_become(previous, status):
            row.status = status
        row.amount = int(refund.get("amount") or row.amount or 0)
        row.currency = str(refund.get("currency") or payment.currency).lower()[:3]
        if row.status in REFUND_NOT_DONE:
            row.failure_reason = str(refund.get("failure_reason") or "")[:255]
        row.save()
        _refund_amounts_count(payment)
        notes = []
        if row.status in REFUND_NOT_DONE and previous != row.status:
            note = (
                f"Refund {row.stripe_refund_id} of {row.amount} {row.currency} "
                f"{row.get_status_display().split(' (')[0].lower()} at Stripe"
                f"{f' ({row.failure_reason})' if row.failure_reason else ''}: the "
                "money did NOT go back to the buyer. Refund it another way, or "
                "again from Stripe's dashboard."
            )
            _flag(payment, note, level=logging.ERROR)
            notes.append(note)
        if not payment.amount_received:
            payment.save()
            notes.append(
                f"Refund {row.stripe_refund_id} ({row.status.lower()}) recorded "
                "before its payment; applied when the payment is reported."
            )
            outcome = S_FLAGGED if payment.needs_attention else S_PROCESSED
            return Applied(" ".join(notes), outcome, payment, order)
        applied = _refund_settled(
            order, payment, note=" ".join(notes), flagged=bool(notes)
        )
        payment.save()
        return applied


def _refund_may_become(previous: str | None, status: str) -> bool:
    """Whether a refund reported as ``status`` may replace ``previous``: reports
    arrive out of order, and failed or canceled is where a refund ends (succeeded
    can still fail, for some payment methods)."""
    if previous is None or previous == status:
        return True
    if previous in REFUND_NOT_DONE:
        return False
    return not (previous == RefundStatus.SUCCEEDED and status in REFUND_ON_ITS_WAY)


def _refund_amounts_count(payment: Payment) -> None:
    """The payment's refunded and pending amounts from its refunds' rows."""
    amounts = dict.fromkeys(RefundStatus.values, 0)
    for status, amount in payment.refunds.values_list("status", "amount"):
        amounts[status] += amount
    payment.amount_refunded = amounts[RefundStatus.SUCCEEDED]
    payment.amount_refund_pending = sum(amounts[s] for s in REFUND_ON_ITS_WAY)


def _refund_settled(
    order: Order, payment: Payment, note: str = "", *, flagged: bool = False
) -> Applied:
    """The payment's and order's statuses from the money given back so far."""
    prefix = f"{note} " if note else ""
    outcome = S_FLAGGED if flagged else S_PROCESSED
    if payment.amount_refunded < payment.amount_received:
        if payment.status == S.REFUNDED:
            # A refund counted as done has failed since: the money is the shop's.
            payment.status = S.SUCCEEDED
            _flag(
                payment,
                f"Payment was recorded refunded, but only {payment.amount_refunded} "
                f"of {payment.amount_received} {payment.currency} went back; order "
                f"{order.number} still says {order.get_status_display().lower()}.",
                level=logging.ERROR,
            )
            outcome = S_FLAGGED
        pending = (
            f", {payment.amount_refund_pending} on its way"
            if payment.amount_refund_pending
            else ""
        )
        kind = "Partial refund" if payment.amount_refunded else "No refund done yet"
        return Applied(
            f"{prefix}{kind}: {payment.amount_refunded} of "
            f"{payment.amount_received} {payment.currency} given back{pending}; "
            f"order {order.number} unchanged.",
            outcome,
            payment=payment,
            order=order,
        )
    if payment.status == S.REFUNDED:
        return Applied(
            f"{prefix}Refund already recorded.", outcome, payment=payment, order=order
        )
    payment.status = S.REFUNDED
    refunds_order = payment.settles_order and order.status in (
        OrderStatus.PAID,
        OrderStatus.FULFILLED,
    )
    late = order.status == OrderStatus.CANCELED and payment.refund_requested_at
    if refunds_order or late:
        order_transition(
            order_id=order.pk, to_status=OrderStatus.REFUNDED, payment_received=True
        )
        return Applied(
            f"{prefix}Refunded in full: order {order.number} is REFUNDED.",
            outcome,
            payment=payment,
            order=order,
        )
    return Applied(
        f"{prefix}Refunded in full; order {order.number} stays "
        f"{OrderStatus(order.status).label.lower()}.",
        outcome,
        payment=payment,
        order=order,
    )


def payment_processing(*, payment_id: int, order_id: int) -> Applied:
    """The buyer has paid by a method that settles later (a bank debit): the
    order waits for it and is not expired meanwhile."""
    with transaction.atomic():
        order, payment = _locked(payment_id, order_id)
        if payment.status not in (S.CREATING, S.OPEN):
            return Applied(
                f"Payment already {payment.get_status_display().lower()}.",
                payment=payment,
                order=order,
            )
        payment.status = S.PROCESSING
        payment.save()
        return Applied(
            f"Order {order.number}: payment processing.", payment=payment, order=order
        )


def payment_ended(
    *,
    payment_id: int,
    order_id: int,
    status: str,
    message: str = "",
    cancel_order: bool = False,
) -> Applied:
    """A payment can no longer take money (expired, failed, canceled). With
    ``cancel_order``, its unpaid order is canceled and its stock returned, unless
    another payment of the order is still live or has succeeded."""
    with transaction.atomic():
        order, payment = _locked(payment_id, order_id)
        notes = []
        if payment.status in LIVE_STATUSES:
            payment.status = status
            payment.failure_message = message
            payment.save()
            notes.append(f"Payment {payment.get_status_display().lower()}.")
        else:
            notes.append(f"Payment already {payment.get_status_display().lower()}.")
        others_live = (
            order.payments.exclude(pk=payment.pk)
            .filter(status__in=[*LIVE_STATUSES, S.SUCCEEDED])
            .exists()
        )
        if (
            cancel_order
            and order.status == OrderStatus.PENDING_PAYMENT
            and not others_live
        ):
            order_transition(
                order_id=order.pk,
                to_status=OrderStatus.CANCELED,
                cancel_reason=CancelReason.UNPAID,
            )
            notes.append(f"Order {order.number} canceled; its stock is back.")
        return Applied(" ".join(notes), payment=payment, order=order)


def payment_failure_noted(*, payment_id: int, order_id: int, message: str) -> Applied:
    """A try to pay failed (a declined card); the payment stays open for another."""
    with transaction.atomic():
        order, payment = _locked(payment_id, order_id)
        payment.failure_message = message
        if (
            payment.status == S.PROCESSING
            and payment.kind == PaymentKind.PAYMENT_INTENT
        ):
            payment.status = S.OPEN
        payment.save()
        return Applied(
            f"Attempt failed: {message or 'no reason given'}; the order still "
            "awaits payment.",
            payment=payment,
            order=order,
        )


# ---------------------------------------------------------------- state at Stripe


def session_state_apply(*, payment_id: int, order_id: int, session: dict) -> Applied:
    """Apply a Checkout Session's current state, as Stripe returned it."""
    status, paid = session.get("status"), session.get("payment_status")
    if status == "complete" and paid == "paid":
        return money_received(
            payment_id=payment_id,
            order_id=order_id,
            amount=int(session.get("amount_total") or 0),
            currency=session.get("currency") or "",
            intent_id=stripe_object_id(session.get("payment_intent")),
        )
    if status == "complete":
        return payment_processing(payment_id=payment_id, order_id=order_id)
    if status == "expired":
        return payment_ended(payment_id=payment_id, order_id=order_id, status=S.EXPIRED)
    return Applied("Session still open.")


def intent_state_apply(*, payment_id: int, order_id: int, intent: dict) -> Applied:
    """Apply a PaymentIntent's current state, as Stripe returned it."""
    status = intent.get("status")
    if status == "succeeded":
        return money_received(
            payment_id=payment_id,
            order_id=order_id,
            amount=int(intent.get("amount_received") or 0),
            currency=intent.get("currency") or "",
            intent_id=intent.get("id"),
        )
    if status == "processing":
        return payment_processing(payment_id=payment_id, order_id=order_id)
    if status == "canceled":
        return payment_ended(
            payment_id=payment_id, order_id=order_id, status=S.CANCELED
        )
    return Applied("PaymentIntent still awaiting the buyer.")


def payment_close_at_stripe(*, payment_id: int) -> Applied:
    """Stop an open payment at Stripe (expire the session, cancel the intent) and
    apply its final state: if the buyer completed it meanwhile, the order is paid.
    PAYMENT_ERROR when Stripe cannot be asked."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != S.OPEN:
        return Applied("Not open.")
    client = stripe_client()
    session = payment.kind == PaymentKind.CHECKOUT_SESSION
    if session:
        api, stripe_id = client.v1.checkout.sessions, payment.stripe_checkout_session_id
        close = api.expire
    else:
        api, stripe_id = client.v1.payment_intents, payment.stripe_payment_intent_id
        close = api.cancel
    try:
        try:
            state = close(stripe_id)
        except stripe.InvalidRequestError:
            # Not expirable or cancelable any more: completed, or closed already.
            state = api.retrieve(stripe_id)
    except stripe.InvalidRequestError as error:
        if error.code != "resource_missing":
            raise PaymentError(
                ErrorCode.PAYMENT_ERROR, stripe_message(error)
            ) from error
        # Unknown to this Stripe account (its keys changed): it cannot take money.
        return payment_ended(
            payment_id=payment.pk,
            order_id=payment.order_id,
            status=S.EXPIRED if session else S.CANCELED,
            message="Stripe does not know this payment (different account or mode).",
        )
    except stripe.StripeError as error:
        raise PaymentError(ErrorCode.PAYMENT_ERROR, stripe_message(error)) from error
    state = state.to_dict()
    if session:
        return session_state_apply(
            payment_id=payment.pk, order_id=payment.order_id, session=state
        )
    return intent_state_apply(
        payment_id=payment.pk, order_id=payment.order_id, intent=state
    )


def order_payments_close(*, order_id: int) -> int:
    """Close at Stripe the open payments of an order no longer awaiting payment
    (canceled, or paid by another payment): expire its Checkout Sessions, cancel
    its PaymentIntents, so nobody can pay it (again). One the buyer completed
    meanwhile is applied as a late or second payment (and refunded where it must
    be). Returns how many were open. Safe to run twice; PAYMENT_ERROR when Stripe
    cannot be asked (the task retries)."""
    awaiting = Order.objects.filter(pk=order_id, status=OrderStatus.PENDING_PAYMENT)
    if awaiting.exists() or not Order.objects.filter(pk=order_id).exists():
        return 0
    open_payments = list(
        Payment.objects.filter(order_id=order_id, status=S.OPEN).values_list(
            "pk", flat=True
        )
    )
    for payment_id in open_payments:
        payment_close_at_stripe(payment_id=payment_id)
    return len(open_payments)


# ---------------------------------------------------------------- refunds


def payment_refund(*, payment_id: int) -> bool:
    """Ask Stripe to give back a payment the shop decided to refund (a late or a
    second payment) and record Stripe's answer: the refund counts as done only
    once Stripe says it succeeded (often at once for cards; later, by webhook,
    for bank debits). Safe to run twice: the idempotency key makes one refund at
    Stripe. A transient Stripe error raises (the task retries); a refusal is
    flagged for staff. Returns True when Stripe took the refund."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.refund_requested_at is None or payment.status == S.REFUNDED:
        return False
    if not payment.stripe_payment_intent_id:
        with transaction.atomic():
            _, payment = _locked(payment.pk, payment.order_id)
            _flag(payment, "Cannot refund: Stripe never named its PaymentIntent.")
            payment.save()
        return False
    try:
        refund = stripe_client().v1.refunds.create(
            params={
                "payment_intent": payment.stripe_payment_intent_id,
                "metadata": _metadata(payment, payment.order),
            },
            options={"idempotency_key": f"{payment.idempotency_key}-refund"},
        )
    except TRANSIENT_STRIPE_ERRORS:
        raise  # the task retries with backoff; the key makes it one refund
    except stripe.StripeError as error:
        if getattr(error, "code", None) == "charge_already_refunded":
            # Refunded already (from Stripe's dashboard, say): record those refunds.
            return payment_refunds_sync(payment_id=payment.pk) > 0
        with transaction.atomic():
            _, payment = _locked(payment.pk, payment.order_id)
            _flag(payment, f"Refund refused by Stripe: {stripe_message(error)}")
            payment.save()
        return False
    refund_state_apply(
        payment_id=payment.pk, order_id=payment.order_id, refund=refund.to_dict()
    )
    return True


def payment_refunds_sync(*, payment_id: int) -> int:
    """Record every refund Stripe has of a payment, as Stripe says it is now (for
    a charge.refunded event that does not list them, or a refund made outside the
    shop). Returns how many there are. Transient Stripe errors raise (the task
    retries)."""
    payment = Payment.objects.get(pk=payment_id)
    if not payment.stripe_payment_intent_id:
        return 0
    refunds = stripe_client().v1.refunds.list(
        params={"payment_intent": payment.stripe_payment_intent_id, "limit": 100}
    )
    count = 0
    for refund in refunds.auto_paging_iter():
        refund_state_apply(
            payment_id=payment.pk, order_id=payment.order_id, refund=refund.to_dict()
        )
        count += 1
    return count


# ---------------------------------------------------------------- expiry


def orders_expire(*, now: datetime | None = None) -> list[int]:
    """Cancel unpaid orders whose reservation has ended; returns their ids.

    Each order's open payments are first closed at Stripe: one the buyer completed
    meanwhile pays the order instead. An order whose payment is processing, or
    whose payments Stripe cannot be asked about now, waits for the next run. Safe
    to run twice or beside a webhook: everything is re-checked under the order's
    lock.
    """
    now = now or timezone.now()
    candidates = list(
        Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, reserved_until__lt=now)
        .exclude(payments__status=S.PROCESSING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    expired = []
    for order_id in candidates:
        # Each order on its own: one that fails waits for the next run, the rest
        # of the batch still gives its stock back now.
        try:
            if order_expire(order_id=order_id, now=now):
                expired.append(order_id)
        except PaymentError as error:
            logger.warning("Order %s not expired yet: %s", order_id, error.message)
        except Exception:
            logger.exception("Order %s not expired: unexpected error", order_id)
    return expired


def order_expire(*, order_id: int, now: datetime | None = None) -> bool:
    """Cancel one unpaid order past its reservation, after closing its open
    payments at Stripe; False if it was paid, extended or is still being paid."""
    now = now or timezone.now()
    open_payments = Payment.objects.filter(order_id=order_id, status=S.OPEN)
    for payment_id in open_payments.values_list("pk", flat=True):
        payment_close_at_stripe(payment_id=payment_id)
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:  # gone since the batch was listed
            return False
        if order.status != OrderStatus.PENDING_PAYMENT or order.reserved_until >= now:
            return False
        # Money received but not applied (an amount mismatch) keeps the order
        # and its stock for staff to settle.
        live = [S.OPEN, S.PROCESSING, S.SUCCEEDED]
        if order.payments.filter(status__in=live).exists():
            return False
        order_transition(
            order_id=order.pk,
            to_status=OrderStatus.CANCELED,
            cancel_reason=CancelReason.UNPAID,
        )
        return True
