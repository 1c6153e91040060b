"""Sale prices: which running sale a variant gets, and keeping the catalog's
denormalised sale prices right.

**The rule** (``sale_price_of``): a sale covers a variant when it names the
variant, its product, or its product's category or any category above it. Among
the sales running at a moment (active, started, not ended), the one giving the
lowest price applies; sales never stack. A percentage sale's price is rounded
half-up to the currency's minor unit; a fixed one never goes below 0. A sale that
would not lower the price leaves the variant off sale.

**The plain path** computes that from the sales at a moment: ``running_sales(at)``
(at most two queries) and ``sale_prices(rows, sales)``. Money (the cart's prices,
its estimate, checkout) always takes it at the moment of the request, so nobody
pays a sale price after its sale ends, even by a second.

**The fast path** is the variant's ``sale_price`` column (and its generated
``current_price``, and the products' price ranges): what filters, sorting and the
catalog's pages read, indexed like any price. ``sales_apply`` rewrites it from
the plain path: at every sale boundary (a task scheduled for the boundary's
moment, and a periodic check as the safety net: ``sales_apply_if_due``), when a
sale changes, and ``sale_prices_refresh`` when prices change
(``product_denormalised_refresh``). Tests hold the two paths equal.

**The response cache** (shop.catalog.cache_tags): an answer showing prices records
the ``sales`` tag (any write to a sale drops it) and is kept no longer than the
next boundary not yet applied (``prices_read``).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Min, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from shop.catalog import cache_tags
from shop.catalog.selectors import (
    category_children,
    category_edges,
    with_descendants,
)
from shop.discounts.models import DiscountKind, Sale, SalesApplied
from shop.orders.totals import minor_unit

logger = logging.getLogger(__name__)

HUNDRED = Decimal(100)
UPDATE_BATCH = 1000
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunningSale:
    id: int
    kind: str
    value: Decimal
    product_ids: frozenset[int]
    category_ids: frozenset[int]  # with every category below those chosen
    variant_ids: frozenset[int]

    def covers(self, variant_id: int, product_id: int, category_id: int | None) -> bool:
        return (
            variant_id in self.variant_ids
            or product_id in self.product_ids
            or (category_id is not None and category_id in self.category_ids)
        )


@dataclass(frozen=True)
class VariantRow:
    """What the rule reads of a variant."""

    id: int
    product_id: int
    category_id: int | None
    price: Decimal


def running(at: datetime) -> Q:
    """Sales running at ``at``."""
    return (
        Q(is_active=True)
        & (Q(starts_at__isnull=True) | Q(starts_at__lte=at))
        & (Q(ends_at__isnull=True) | Q(ends_at__gt=at))
    )


def running_sales(at: datetime | None = None) -> list[RunningSale]:
    """The sales running at ``at`` (now), with what each covers: one query
    without sales, two with sales (what they name, and the category tree when
    one names a category, read together)."""
    at = at or timezone.now()
    sales = list(
        Sale.objects.filter(running(at))
        .order_by("id")
        .values_list("id", "kind", "value")
    )
    if not sales:
        return []
    ids = [sale_id for sale_id, _, _ in sales]
    products = Sale.products.through.objects.filter(sale_id__in=ids)
    categories = Sale.categories.through.objects.filter(sale_id__in=ids)
    variants = Sale.variants.through.objects.filter(sale_id__in=ids)
    # The tree's edges as (parent, "t", child), only when a sale names a
    # category: a query of their own before, every checkout and cart read.
    tree = category_edges().filter(Exists(categories)).annotate(what=Value("t"))
    targets = (
        products.annotate(what=Value("p"))
        .values_list("sale_id", "what", "product_id")
        .union(
            categories.annotate(what=Value("c")).values_list(
                "sale_id", "what", "category_id"
            ),
            variants.annotate(what=Value("v")).values_list(
                "sale_id", "what", "productvariant_id"
            ),
            tree.values_list("parent_id", "what", "id"),
            all=True,
        )
    )
    covered: dict[int, dict[str, set[int]]] = {
        sale_id: {"p": set(), "c": set(), "v": set()} for sale_id in ids
    }
    edges = []
    for sale_id, what, target in targets:
        if what == "t":
            edges.append((sale_id, target))  # a parent id, not a sale's
        else:
            covered[sale_id][what].add(target)
    children = category_children(edges)
    return [
        RunningSale(
            id=sale_id,
            kind=kind,
            value=value,
            product_ids=frozenset(covered[sale_id]["p"]),
            category_ids=with_descendants(covered[sale_id]["c"], children),
            variant_ids=frozenset(covered[sale_id]["v"]),
        )
        for sale_id, kind, value in sales
    ]


def discounted(price: Decimal, kind: str, value: Decimal, unit: Decimal) -> Decimal:
    """``price`` under one sale: a percentage off rounded half-up to ``unit``, or
    an amount off, never below 0."""
    if kind == DiscountKind.PERCENTAGE:
        cut = price * (HUNDRED - value) / HUNDRED
        return max(cut.quantize(unit, rounding=ROUND_HALF_UP), Decimal(0))
    return max(price - value, Decimal(0)).quantize(unit, rounding=ROUND_HALF_UP)


def sale_price_of(row: VariantRow, sales: Iterable[RunningSale]) -> Decimal | None:
    """The price of ``row`` under the best of ``sales`` covering it; None when no
    sale covers it or none lowers its price."""
    unit = minor_unit(settings.SHOP_CURRENCY)
    best = None
    for sale in sales:
        if sale.covers(row.id, row.product_id, row.category_id):
            price = discounted(row.price, sale.kind, sale.value, unit)
            if best is None or price < best:
                best = price
    if best is None or best >= row.price:
        return None
    return best


def paid_price(row: VariantRow, sales: Iterable[RunningSale]) -> Decimal:
    """What the buyer pays for ``row`` under ``sales``: its sale price or its
    price."""
    on_sale = sale_price_of(row, sales)
    return row.price if on_sale is None else on_sale


def sale_prices(
    rows: Iterable[VariantRow], sales: list[RunningSale]
) -> dict[int, Decimal | None]:
    """Variant id -> its sale price (None: not on sale) under ``sales``."""
    return {row.id: sale_price_of(row, sales) for row in rows}


def _rows(variants) -> list[tuple[VariantRow, Decimal | None]]:
    return [
        (VariantRow(pk, product_id, category_id, price), stored)
        for pk, product_id, category_id, price, stored in variants.values_list(
            "pk", "product_id", "product__category_id", "price", "sale_price"
        )
    ]


def _write(changed: dict[int, Decimal | None]) -> None:
    """Store the sale prices that changed. PostgreSQL: one UPDATE joined to the
    arrays of ids and prices (a sale on a department of 130,000 variants: 28 s
    with Django's bulk_update, see BENCHMARKS.md); elsewhere bulk_update."""
    from shop.catalog.models import ProductVariant

    if not changed:
        return
    items = sorted(changed.items())
    if connection.vendor == "postgresql":
        table = ProductVariant._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS v SET sale_price = x.price "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::numeric[]) AS x(id, price) "
                "WHERE v.id = x.id",
                [[pk for pk, _ in items], [price for _, price in items]],
            )
        return
    for start in range(0, len(items), UPDATE_BATCH):
        batch = [
            ProductVariant(pk=pk, sale_price=price)
            for pk, price in items[start : start + UPDATE_BATCH]
        ]
        ProductVariant.objects.bulk_update(batch, ["sale_price"])


@transaction.atomic
def sale_prices_refresh(*, product_ids: Iterable[int]) -> set[int]:
    """Make the stored sale prices of these products' variants right now (after
    their prices changed); returns the products whose variants changed. The
    caller refreshes the products' price ranges (product_denormalised_refresh)."""
    from shop.catalog.models import ProductVariant

    ids = sorted(set(product_ids))
    if not ids:
        return set()
    rows = _rows(ProductVariant.objects.filter(product_id__in=ids).order_by())
    if not rows:
        return set()
    sales = running_sales()
    changed = {
        row.id: wanted
        for row, stored in rows
        if (wanted := sale_price_of(row, sales)) != stored
    }
    _write(changed)
    return {row.product_id for row, _ in rows if row.id in changed}


@transaction.atomic
def sales_apply(at: datetime | None = None) -> int:
    """Make every stored sale price right as of ``at`` (now) and record that it
    was done; returns how many variants changed. Reads the variants some running
    sale covers and those on sale now; writes only what changed, then the price
    ranges of their products. Serialised by a lock on the one SalesApplied row."""
    from shop.catalog.models import ProductVariant
    from shop.catalog.services import product_price_ranges_refresh

    at = at or timezone.now()
    state = _state_locked(at)
    sales = running_sales(at)
    covered = Q(sale_price__isnull=False)
    for sale in sales:
        covered |= Q(pk__in=sale.variant_ids) | Q(product_id__in=sale.product_ids)
        if sale.category_ids:
            covered |= Q(product__category_id__in=sale.category_ids)
    rows = _rows(ProductVariant.objects.filter(covered).order_by())
    changed = {
        row.id: wanted
        for row, stored in rows
        if (wanted := sale_price_of(row, sales)) != stored
    }
    _write(changed)
    product_price_ranges_refresh(
        product_ids={row.product_id for row, _ in rows if row.id in changed}
    )
    state.applied_at = at
    state.save(update_fields=["applied_at"])
    if changed:
        logger.info("Sale prices applied: %d variants changed", len(changed))
    return len(changed)


def _state_locked(at: datetime) -> SalesApplied:
    state = SalesApplied.objects.select_for_update().filter(pk=1).first()
    if state is None:
        SalesApplied.objects.get_or_create(pk=1, defaults={"applied_at": at})
        state = SalesApplied.objects.select_for_update().get(pk=1)
    return state


def next_boundary(after: datetime) -> datetime | None:
    """The first start or end of an active sale after ``after``."""
    found = Sale.objects.filter(is_active=True).aggregate(
        starts=Min("starts_at", filter=Q(starts_at__gt=after)),
        ends=Min("ends_at", filter=Q(ends_at__gt=after)),
    )
    moments = [m for m in (found["starts"], found["ends"]) if m is not None]
    return min(moments) if moments else None


def applied_at() -> datetime | None:
    """When the sale prices were last applied (None: never)."""
    found = SalesApplied.objects.filter(pk=1).values_list("applied_at", flat=True)
    return found.first()


def sales_apply_if_due(now: datetime | None = None) -> int | None:
    """Apply the sales when a boundary has passed since they were last applied, or
    a sale or a category (a move in the tree) changed since (None when nothing
    was due)."""
    from shop.catalog.models import Category

    now = now or timezone.now()
    last = applied_at()
    if last is not None:
        boundary = next_boundary(last)
        edited = (
            Sale.objects.filter(updated_at__gt=last).exists()
            or Category.objects.filter(updated_at__gt=last).exists()
        )
        if not edited and (boundary is None or boundary > now):
            return None
    return sales_apply(now)


def boundaries_within(seconds: float, now: datetime | None = None) -> list[datetime]:
    """The sale boundaries of the next ``seconds`` (to schedule a task at each)."""
    now = now or timezone.now()
    end = now + timedelta(seconds=seconds)
    found = set()
    for starts, ends in (
        Sale.objects.filter(is_active=True)
        .filter(
            Q(starts_at__gt=now, starts_at__lte=end)
            | Q(ends_at__gt=now, ends_at__lte=end)
        )
        .values_list("starts_at", "ends_at")
    ):
        found.update(m for m in (starts, ends) if m is not None and now < m <= end)
    return sorted(found)


def prices_read() -> None:
    """The answer being built shows prices: it records the ``sales`` tag and is
    kept no longer than the next sale boundary not applied yet (one query per
    answer, only while the response cache collects)."""
    if not cache_tags.record_first(cache_tags.SALES):
        return
    last = Coalesce(
        Subquery(SalesApplied.objects.filter(pk=1).values("applied_at")[:1]),
        Value(NEVER),
    )
    found = Sale.objects.filter(is_active=True).aggregate(
        starts=Min("starts_at", filter=Q(starts_at__gt=last)),
        ends=Min("ends_at", filter=Q(ends_at__gt=last)),
    )
    moments = [m for m in (found["starts"], found["ends"]) if m is not None]
    if moments:
        cache_tags.valid_until(min(moments))
