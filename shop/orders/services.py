"""Orders: checkout, and the one way to change an order's status."""

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from shop.cart.errors import CartError, CartUnavailable
from shop.cart.services import (
    CartSnapshot,
    cart_checkout_lines,
    cart_purchased_remove,
)
from shop.catalog.stock import (
    StockShortage,
    stock_change,
    stock_lock,
    stock_take_locked,
)
from shop.core.errors import email_checked
from shop.core.tasks import enqueue_on_commit
from shop.discounts.errors import DiscountError
from shop.discounts.sales import VariantRow, paid_price, running_sales
from shop.discounts.vouchers import (
    Customer,
    voucher_find,
    voucher_use_retake,
    voucher_use_return,
    voucher_use_take,
)
from shop.orders.errors import ErrorCode, OrderError
from shop.orders.events import order_event_publish
from shop.orders.models import (
    REVIVABLE_CANCEL_REASONS,
    CancelReason,
    Order,
    OrderLine,
    OrderStatus,
    new_order_number,
)
from shop.orders.pricing import CartItem, is_country_code, price_cart

logger = logging.getLogger(__name__)

# Which status may follow which; everything else is INVALID_STATUS.
TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.PENDING_PAYMENT: {OrderStatus.PAID, OrderStatus.CANCELED},
    OrderStatus.PAID: {OrderStatus.FULFILLED, OrderStatus.REFUNDED},
    OrderStatus.FULFILLED: {OrderStatus.REFUNDED},
    OrderStatus.CANCELED: set(),
    OrderStatus.REFUNDED: set(),
}
# Allowed only when a payment arrives for an order canceled meanwhile: one canceled
# for want of payment is filled after all (stock permitting), else the payment is
# given back (see REVIVABLE_CANCEL_REASONS).
LATE_PAYMENT_TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.CANCELED: {OrderStatus.PAID, OrderStatus.REFUNDED},
}

NUMBER_ATTEMPTS = 5
# The largest amount the order's money columns hold (9,999,999,999.99).
_TOTAL = Order._meta.get_field("total")
TOTAL_MAX = (
    Decimal(10) ** (_TOTAL.max_digits - _TOTAL.decimal_places)
    - Decimal(10) ** -_TOTAL.decimal_places
)
CONFIRMATION_TASK = "workers.tasks.orders.order_confirmation_send"
# The buyer's email when an order reaches a status.
EMAIL_TASKS = {
    OrderStatus.CANCELED: "workers.tasks.orders.order_cancellation_send",
    OrderStatus.PAID: "workers.tasks.orders.order_payment_received_send",
    OrderStatus.REFUNDED: "workers.tasks.orders.order_refund_send",
}
# An order's payments still open at Stripe are closed once it is canceled or paid,
# so that nobody pays an order that no longer holds stock, or pays one twice.
PAYMENTS_CLOSE_TASK = "workers.tasks.payments.order_payments_close"


@dataclass(frozen=True)
class AddressData:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""


# ---------------------------------------------------------------- checkout


def _checked_email(user, email: str | None) -> str:
    if not (email or "").strip() and user.is_authenticated:
        return user.email
    return email_checked(email, OrderError)


def _checked_address(address: AddressData) -> AddressData:
    problems = []
    cleaned = {}
    limits = {"name": 200, "line1": 200, "line2": 200, "city": 100, "postal_code": 20}
    graphql_names = {"postal_code": "postalCode"}
    for name, limit in limits.items():
        value = (getattr(address, name) or "").strip()
        field = f"shippingAddress.{graphql_names.get(name, name)}"
        if not value and name != "line2":
            problems.append(OrderError(ErrorCode.REQUIRED, "Required.", field=field))
        elif len(value) > limit:
            problems.append(
                OrderError(
                    ErrorCode.INVALID, f"At most {limit} characters.", field=field
                )
            )
        cleaned[name] = value
    country = (address.country or "").strip().upper()
    if not country:
        problems.append(
            OrderError(ErrorCode.REQUIRED, "Required.", field="shippingAddress.country")
        )
    elif not is_country_code(country):
        problems.append(
            OrderError(
                ErrorCode.INVALID,
                "Use a two-letter ISO 3166 country code, e.g. US.",
                field="shippingAddress.country",
            )
        )
    OrderError.raise_any(problems)
    return AddressData(country=country, **cleaned)


def _buyer_key(user, cart_token: str | None) -> str:
    return f"user:{user.pk}" if user.is_authenticated else f"guest:{cart_token}"


def checkout_complete(
    *,
    user,
    cart_token: str | None,
    email: str | None,
    address: AddressData,
    idempotency_key: str | None = None,
    shipping_method_id: int | None = None,
    voucher_code: str | None = None,
) -> Order:
    """Turn the cart into an order, in one transaction that cannot oversell.

    ``voucher_code``: None takes the cart's voucher, "" none, a code that one. The
    voucher is judged again and its use taken under its row lock, after the
    variants' (shop.discounts.vouchers): a refused voucher refuses the checkout
    (VOUCHER_*, field voucherCode) and nothing is written.

    Locks the cart's variants (``select_for_update``, in primary-key order, so two
    checkouts never deadlock), checks every line's stock, creates the order and its
    lines (names and prices copied), decrements stock in the database; then, on
    commit, takes the bought items out of the cart, enqueues the confirmation email
    and publishes the order event. Any failure changes nothing.

    The same ``idempotency_key`` from the same buyer returns the first order, even
    when two requests race (a unique constraint decides). So does the same state of
    the cart (its revision), with or without a key: one cart state, one order.
    """
    problems: list[OrderError] = []
    try:
        email = _checked_email(user, email)
    except OrderError as error:
        problems.append(error)
    try:
        address = _checked_address(address)
    except OrderError as error:
        problems.append(error)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 100:
        problems.append(
            OrderError(
                ErrorCode.INVALID,
                "idempotencyKey must have 1 to 100 characters.",
                field="idempotencyKey",
            )
        )
    OrderError.raise_any(problems)

    buyer_key = _buyer_key(user, cart_token)
    try:
        cart = cart_checkout_lines(user=user, token=cart_token)
    except CartError as error:
        # A retry of a checkout whose guest cart has expired since: its order.
        if earlier := _earlier_order(buyer_key, idempotency_key):
            return earlier
        raise OrderError(error.code, error.message, field="cartToken") from error
    except CartUnavailable:
        # Redis is down: a retry with a key still gets the order it made.
        if earlier := _earlier_order(buyer_key, idempotency_key):
            return earlier
        raise
    if not cart.quantities:
        # A retry whose first request has emptied the cart: its order.
        if earlier := _earlier_order(buyer_key, idempotency_key, cart.revision):
            return earlier
        raise OrderError(ErrorCode.CART_EMPTY, "The cart is empty.", field="cartToken")
    # An order placed with this key, or from this state of the cart (a double
    # click, a retry reading the cart before the first request emptied it) is
    # found under the locks (_place_order), where a concurrent request's is too:
    # one lookup on the way that places an order, not a second one before.

    if voucher_code is None:
        voucher_code = cart.voucher_code
    for attempt in range(NUMBER_ATTEMPTS):
        number = new_order_number()
        try:
            return _place_order(
                user,
                email,
                address,
                buyer_key,
                idempotency_key,
                cart,
                shipping_method_id,
                voucher_code,
                number,
            )
        except IntegrityError:
            # A concurrent request with the same key or the same cart state
            # committed first: answer its order.
            if earlier := _earlier_order(buyer_key, idempotency_key, cart.revision):
                return earlier
            # The random number was taken (40 bits: about one in a million
            # orders per million placed): the whole transaction again under
            # another. No savepoint around the insert, which every checkout paid
            # for (two statements) to save a rare retry.
            taken = Order.objects.filter(number=number).exists()
            if not taken or attempt == NUMBER_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _earlier_order(
    buyer_key: str, idempotency_key: str | None, cart_revision: str = ""
) -> Order | None:
    """The buyer's order placed with this idempotency key or from this state of
    their cart, if any."""
    same = Q()
    if idempotency_key:
        same |= Q(idempotency_key=idempotency_key)
    if cart_revision:
        same |= Q(cart_revision=cart_revision)
    if not same:
        return None
    # Nearly always none: ask for the id alone (the whole order is 36 columns
    # to compile and read), and load the order only when there is one.
    found = (
        Order.objects.filter(same, buyer_key=buyer_key)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    return None if found is None else Order.objects.get(pk=found)


@transaction.atomic
def _place_order(
    user,
    email: str,
    address: AddressData,
    buyer_key: str,
    idempotency_key: str | None,
    cart: CartSnapshot,
    shipping_method_id: int | None,
    voucher_code: str,
    number: str,
) -> Order:
    variants = stock_lock(cart.quantities)
    # A request with the same key or cart state that held these locks before us
    # has committed its order by now: answer that one rather than judge stock it
    # already took.
    if earlier := _earlier_order(buyer_key, idempotency_key, cart.revision):
        return earlier
    problems = []
    for index, (variant_id, quantity) in enumerate(cart.quantities.items()):
        variant = variants.get(variant_id)
        field = f"lines.{index}"
        if variant is None or not variant.product.is_published:
            problems.append(
                OrderError(ErrorCode.NOT_FOUND, "No longer for sale.", field=field)
            )
        elif variant.quantity_available == 0:
            problems.append(
                OrderError(
                    ErrorCode.OUT_OF_STOCK, f"{variant.sku} is sold out.", field=field
                )
            )
        elif quantity > variant.quantity_available:
            problems.append(
                OrderError(
                    ErrorCode.INSUFFICIENT_STOCK,
                    f"Only {variant.quantity_available} of {variant.sku} left.",
                    field=field,
                )
            )
    OrderError.raise_any(problems)

    # The money, as the cart's estimate computes it (shop.orders.pricing), from the
    # prices and stock locked now and the sales running now: a method that does
    # not ship this cart there, or none where one is needed, or a voucher that
    # does not apply, is refused before anything is written.
    sales = running_sales()
    rows = {
        pk: VariantRow(pk, v.product_id, v.product.category_id, v.price)
        for pk, v in variants.items()
    }
    paid = {pk: paid_price(rows[pk], sales) for pk in cart.quantities}
    customer = Customer(user_id=user.pk if user.is_authenticated else None, email=email)
    try:
        voucher = (
            voucher_find(voucher_code, field="voucherCode", lock=True)
            if voucher_code
            else None
        )
        priced = price_cart(
            [
                CartItem(
                    variant_id=variant_id,
                    unit_price=paid[variant_id],
                    quantity=quantity,
                    tax_class_id=variants[variant_id].product.tax_class_id,
                    weight_grams=variants[variant_id].weight_grams,
                    product_id=variants[variant_id].product_id,
                    category_id=variants[variant_id].product.category_id,
                    regular_price=variants[variant_id].price,
                )
                for variant_id, quantity in cart.quantities.items()
            ],
            country=address.country,
            shipping_method_id=shipping_method_id,
            require_method=True,
            voucher=voucher,
            customer=customer,
        )
    except DiscountError as error:
        raise OrderError(error.code, error.message, field=error.field) from error
    totals = priced.totals
    line_totals = {line.key: line for line in totals.lines}
    lines = [
        OrderLine(
            variant=variants[variant_id],
            sku=variants[variant_id].sku,
            product_name=variants[variant_id].product.name,
            variant_name=variants[variant_id].name,
            quantity=quantity,
            unit_price=paid[variant_id],
            discount=line_totals[variant_id].discount,
            tax_rate=line_totals[variant_id].tax_rate,
            tax_amount=line_totals[variant_id].tax,
        )
        for variant_id, quantity in cart.quantities.items()
    ]
    if totals.total > TOTAL_MAX:
        raise OrderError(
            ErrorCode.INVALID,
            f"An order can total at most {TOTAL_MAX:,} {settings.SHOP_CURRENCY}: "
            "split it into several orders.",
            field="lines",
        )
    order = Order.objects.create(
        number=number,
        user=user if user.is_authenticated else None,
        email=email,
        buyer_key=buyer_key,
        idempotency_key=idempotency_key or "",
        cart_revision=cart.revision,
        shipping_name=address.name,
        shipping_line1=address.line1,
        shipping_line2=address.line2,
        shipping_city=address.city,
        shipping_postal_code=address.postal_code,
        shipping_country=address.country,
        currency=settings.SHOP_CURRENCY,
        subtotal=totals.subtotal,
        discount=totals.discount,
        shipping_price=totals.shipping,
        shipping_method_name=priced.method.name if priced.method else "",
        tax=totals.tax,
        prices_include_tax=totals.prices_include_tax,
        total=totals.total,
        voucher_code=voucher.code if voucher is not None else "",
    )
    if voucher is not None:
        voucher_use_take(voucher, order_id=order.pk, customer=customer)
    for line in lines:
        line.order = order
    OrderLine.objects.bulk_create(lines)
    bought = dict(cart.quantities)
    # The rows are locked and their stock checked above: one UPDATE takes it.
    stock_take_locked(bought)

    transaction.on_commit(lambda: _cart_settle(cart, bought))
    enqueue_on_commit(CONFIRMATION_TASK, order.pk)
    _publish_on_commit(order, previous_status=None)
    return order


def _cart_settle(cart: CartSnapshot, bought: dict[int, int]) -> None:
    try:
        cart_purchased_remove(key=cart.key, quantities=bought)
    except CartUnavailable:
        logger.exception("Order placed but its cart could not be emptied")


def _publish_on_commit(order: Order, *, previous_status: str | None) -> None:
    order_id, user_id, status = order.pk, order.user_id, order.status
    at = order.updated_at

    def publish() -> None:
        try:
            order_event_publish(
                order_id=order_id,
                user_id=user_id,
                status=status,
                previous_status=previous_status,
                at=at,
            )
        except Exception:  # a lost live update must not fail a committed change
            logger.exception("Order event %s -> %s not published", order_id, status)

    transaction.on_commit(publish)


# ---------------------------------------------------------------- status changes


@transaction.atomic
def order_transition(
    *,
    order_id: int,
    to_status: str,
    payment_received: bool = False,
    cancel_reason: str = "",
) -> Order:
    """Move an order to ``to_status``: the only way a status changes.

    Locks the order, refuses a move the workflow does not allow (INVALID_STATUS),
    saves, and moves stock in the same transaction: an unpaid order that is
    canceled gives its stock back. ``payment_received`` (a payment arrived for an
    order already canceled) also allows CANCELED -> PAID, which takes the stock
    again or fails with INSUFFICIENT_STOCK, and CANCELED -> REFUNDED. CANCELED ->
    PAID is only for an order canceled for want of payment (``cancel_reason``
    UNPAID): a cancellation by the buyer or staff is final. A cancellation names
    its ``cancel_reason`` (a ``CancelReason``). On commit it publishes the order
    event and enqueues the buyer's email and, for an order canceled or paid, the
    closing of its payments still open at Stripe (so nothing can pay it again).
    """
    if to_status == OrderStatus.CANCELED and cancel_reason not in CancelReason:
        raise ValueError(
            f"A cancellation names its CancelReason, not {cancel_reason!r}"
        )
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderError(ErrorCode.NOT_FOUND, "No such order.", field="id")
    previous = order.status
    allowed = TRANSITIONS[previous]
    if payment_received:
        allowed = allowed | LATE_PAYMENT_TRANSITIONS.get(previous, set())
        if order.cancel_reason not in REVIVABLE_CANCEL_REASONS:
            allowed = allowed - {OrderStatus.PAID}
    if to_status not in allowed:
        raise OrderError(
            ErrorCode.INVALID_STATUS,
            f"A {OrderStatus(previous).label.lower()} order cannot become "
            f"{OrderStatus(to_status).label.lower()}.",
            field="status",
        )
    if previous == OrderStatus.CANCELED and to_status == OrderStatus.PAID:
        _stock_take_again(order)
        voucher_use_retake(
            order_id=order.pk,
            code=order.voucher_code,
            user_id=order.user_id,
            email=order.email,
        )
    order.status = to_status
    fields = ["status", "updated_at"]
    if to_status == OrderStatus.CANCELED:
        order.cancel_reason = cancel_reason
        fields.append("cancel_reason")
    order.save(update_fields=fields)
    if to_status == OrderStatus.CANCELED and previous == OrderStatus.PENDING_PAYMENT:
        _stock_return(order)
        voucher_use_return(order_id=order.pk)
    if to_status in (OrderStatus.CANCELED, OrderStatus.PAID):
        enqueue_on_commit(PAYMENTS_CLOSE_TASK, order.pk)
    if task := EMAIL_TASKS.get(to_status):
        enqueue_on_commit(task, order.pk)
    _publish_on_commit(order, previous_status=previous)
    return order


def _stock_return(order: Order) -> None:
    """Give a canceled order's units back (lines of deleted variants are skipped)."""
    quantities = _order_quantities(order)
    quantities.pop(None, None)
    stock_change(quantities)


def _stock_take_again(order: Order) -> None:
    """Reserve a canceled order's stock again: every line, or none."""
    quantities = _order_quantities(order)
    if None in quantities:
        raise OrderError(
            ErrorCode.INSUFFICIENT_STOCK,
            "An item of the order is no longer sold.",
            field="lines",
        )
    try:
        stock_change({pk: -quantity for pk, quantity in quantities.items()})
    except StockShortage as short:
        skus = dict(order.lines.values_list("variant_id", "sku"))
        missing = ", ".join(skus[s.variant_id] for s in short.shortages)
        raise OrderError(
            ErrorCode.INSUFFICIENT_STOCK,
            f"Not enough {missing} left to fill the order again.",
            field="lines",
        ) from short


def _order_quantities(order: Order) -> dict[int | None, int]:
    """Units per variant of an order (None: lines whose variant was deleted)."""
    quantities: dict[int | None, int] = {}
    for variant_id, quantity in order.lines.values_list("variant_id", "quantity"):
        quantities[variant_id] = quantities.get(variant_id, 0) + quantity
    return quantities


def order_cancel(*, user, order_id: int) -> Order:
    """The buyer cancels their unpaid order; its stock goes back on sale. Final:
    money for it that still arrives is refunded, never revives it."""
    owns = Order.objects.filter(pk=order_id, user_id=user.pk).exists()
    if not owns:
        raise OrderError(ErrorCode.NOT_FOUND, "No such order.", field="id")
    return order_transition(
        order_id=order_id,
        to_status=OrderStatus.CANCELED,
        cancel_reason=CancelReason.BUYER,
    )
