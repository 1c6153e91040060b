"""Stock: the one way ``ProductVariant.quantity_available`` changes.

Checkout takes stock, a cancellation or an expiry gives it back, a late payment
takes it again, staff adjust it ("+10 received", "-2 damaged"): each is a signed
change per variant, applied here with database arithmetic while the variants' rows
are locked (in primary-key order, the order every path locks them in, so two
changes never deadlock). Nothing ever writes back a number read earlier, and
stock never goes below zero: a change that would is refused whole.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When

from shop.catalog.errors import CatalogError, ErrorCode
from shop.catalog.models import ProductVariant, StockAdjustment, StockReason

ADJUSTMENT_MAX = 1_000_000
NOTE_MAX = 500


@dataclass(frozen=True)
class Shortage:
    """A variant that cannot give what a change asks of it."""

    variant_id: int
    wanted: int  # units the change would remove
    available: int  # units it has (0 when the variant no longer exists)


class StockShortage(CatalogError):
    """A change would take a variant below zero; nothing was changed."""

    def __init__(self, shortages: list[Shortage]) -> None:
        super().__init__(
            ErrorCode.INSUFFICIENT_STOCK,
            "Not enough stock.",
            field="quantityAvailable",
        )
        self.shortages = shortages


def stock_lock(variant_ids: Iterable[int]) -> dict[int, ProductVariant]:
    """Lock the variants (``SELECT ... FOR UPDATE``, primary-key order) for the
    rest of the transaction and return them with their product. Missing ids are
    left out."""
    ids = sorted(set(variant_ids))
    return {
        variant.pk: variant
        for variant in ProductVariant.objects.select_for_update(of=("self",))
        .select_related("product")
        .filter(pk__in=ids)
        .order_by("pk")
    }


@transaction.atomic
def stock_change(changes: Mapping[int, int]) -> dict[int, int]:
    """Add ``changes`` (variant id -> signed units) to the stock, all or nothing.

    Locks the variants first (a caller that already holds the locks loses
    nothing), raises ``StockShortage`` if any would go below zero or no longer
    exists while units are to be taken from it, and applies every change in one
    UPDATE. Returns each changed variant's stock afterwards. A variant that no
    longer exists is skipped when units are given back to it.
    """
    changes = {pk: delta for pk, delta in changes.items() if delta}
    if not changes:
        return {}
    current = dict(
        ProductVariant.objects.select_for_update()
        .filter(pk__in=sorted(changes))
        .order_by("pk")
        .values_list("pk", "quantity_available")
    )
    shortages = [
        Shortage(pk, -delta, current.get(pk, 0))
        for pk, delta in sorted(changes.items())
        if delta < 0 and current.get(pk, 0) + delta < 0
    ]
    if shortages:
        raise StockShortage(shortages)
    changes = {pk: delta for pk, delta in changes.items() if pk in current}
    if changes:
        ProductVariant.objects.filter(pk__in=list(changes)).update(
            quantity_available=F("quantity_available")
            + Case(
                *(When(pk=pk, then=Value(delta)) for pk, delta in changes.items()),
                output_field=IntegerField(),
            )
        )
    return {pk: current[pk] + delta for pk, delta in changes.items()}


def stock_take_locked(quantities: Mapping[int, int]) -> None:
    """Take ``quantities`` (variant id -> units) from variants the caller has
    locked with ``stock_lock`` and checked in the same transaction (checkout):
    one UPDATE, without locking and reading them again. The database's
    stock-not-negative constraint still refuses any mistake."""
    changes = {pk: -units for pk, units in quantities.items() if units}
    if not changes:
        return
    ProductVariant.objects.filter(pk__in=sorted(changes)).update(
        quantity_available=F("quantity_available")
        + Case(
            *(When(pk=pk, then=Value(delta)) for pk, delta in sorted(changes.items())),
            output_field=IntegerField(),
        )
    )


def adjustment_checked(delta: int | None, reason: str | None, note: str | None):
    """The cleaned ``(delta, reason, note)`` of a staff adjustment, or a
    CatalogError (INVALID / REQUIRED) naming the field."""
    problems = []
    note = (note or "").strip()
    if not delta:
        problems.append(
            CatalogError(
                ErrorCode.INVALID, "Give a number of units other than 0.", field="delta"
            )
        )
    elif abs(delta) > ADJUSTMENT_MAX:
        problems.append(
            CatalogError(
                ErrorCode.INVALID,
                f"Adjust by at most {ADJUSTMENT_MAX:,} units at once.",
                field="delta",
            )
        )
    if not reason:
        problems.append(
            CatalogError(
                ErrorCode.REQUIRED, "Say why the stock changes.", field="reason"
            )
        )
    elif reason not in StockReason.values:
        problems.append(
            CatalogError(ErrorCode.INVALID, "Unknown reason.", field="reason")
        )
    elif reason == StockReason.OTHER and not note:
        problems.append(
            CatalogError(
                ErrorCode.REQUIRED,
                "Say in the note why the stock changes.",
                field="note",
            )
        )
    if len(note) > NOTE_MAX:
        problems.append(
            CatalogError(
                ErrorCode.INVALID, f"At most {NOTE_MAX} characters.", field="note"
            )
        )
    CatalogError.raise_any(problems)
    return delta, reason, note


@transaction.atomic
def stock_adjust(
    *, variant_id: int, delta: int, reason: str, note: str = "", staff
) -> StockAdjustment:
    """Staff change a variant's stock by ``delta`` units and the change is recorded.

    ``+10`` adds ten units (a delivery), ``-2`` removes two (damaged); the result
    is computed by the database under the row lock, so sales made meanwhile are
    kept. Refused whole (CatalogError) if the delta or reason is invalid, the
    variant is gone (NOT_FOUND) or it would go below zero (INSUFFICIENT_STOCK).
    """
    delta, reason, note = adjustment_checked(delta, reason, note)
    variant = stock_lock([variant_id]).get(variant_id)
    if variant is None:
        raise CatalogError(ErrorCode.NOT_FOUND, "No such variant.", field="variant")
    try:
        after = stock_change({variant_id: delta})
    except StockShortage as short:
        raise CatalogError(
            ErrorCode.INSUFFICIENT_STOCK,
            f"Only {short.shortages[0].available} of {variant.sku} in stock: "
            f"cannot remove {-delta}.",
            field="delta",
        ) from short
    return StockAdjustment.objects.create(
        variant_id=variant_id,
        sku=variant.sku,
        delta=delta,
        quantity_after=after[variant_id],
        reason=reason,
        note=note,
        staff=staff if getattr(staff, "pk", None) else None,
        staff_email=getattr(staff, "email", "") or "",
    )
