"""The one totals function (shop.orders.totals): the rule on known amounts, and
over random carts that the parts always add up to the total, to the minor unit."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shop.orders.totals import PricedLine, order_totals, tax_of

D = Decimal


def line(price: str, quantity: int = 1, rate: str = "20", discount: str = "0"):
    return PricedLine(
        key=price, unit_price=D(price), quantity=quantity, tax_rate=D(rate),
        discount=D(discount),
    )  # fmt: skip


def test_prices_with_tax_included_extract_it_at_the_destination_s_rate():
    # GB 20%: a 12.00 shelf price holds 2.00 of tax; DE 19%: 10.00 holds 1.60
    # (1.5966 rounded half-up); shipping 4.99 at 20% holds 0.83 (0.8317).
    totals = order_totals(
        [line("12.00", rate="20"), line("10.00", 2, rate="19")],
        shipping=D("4.99"),
        shipping_tax_rate=D("20"),
        prices_include_tax=True,
        currency="GBP",
    )
    assert [item.tax for item in totals.lines] == [D("2.00"), D("3.19")]
    assert totals.shipping_tax == D("0.83")
    assert (totals.subtotal, totals.shipping, totals.tax, totals.total) == (
        D("32.00"),
        D("4.99"),
        D("6.02"),
        D("36.99"),  # what the buyer pays is the shelf prices and the shipping
    )


def test_prices_without_tax_get_it_added():
    totals = order_totals(
        [line("19.99", 3, rate="8.875")],
        shipping=D("5.00"),
        shipping_tax_rate=D("8.875"),
        prices_include_tax=False,
        currency="USD",
    )
    # 59.97 x 8.875% = 5.3223 -> 5.32; 5.00 x 8.875% = 0.44375 -> 0.44
    assert totals.lines[0].tax == D("5.32")
    assert totals.shipping_tax == D("0.44")
    assert totals.total == D("59.97") + D("5.00") + D("5.76")


def test_tax_is_computed_on_the_amount_after_the_line_s_discount():
    totals = order_totals(
        [line("50.00", 2, rate="20", discount="10.00")],
        shipping=D("0"),
        shipping_tax_rate=D("20"),
        prices_include_tax=True,
        currency="EUR",
    )
    assert totals.lines[0].tax == D("15.00")  # 90.00 x 20/120
    assert (totals.subtotal, totals.discount, totals.total) == (
        D("100.00"),
        D("10.00"),
        D("90.00"),
    )


def test_half_a_minor_unit_rounds_up_and_currencies_without_cents_round_to_units():
    assert tax_of(D("0.25"), D("10"), included=False, unit=D("0.01")) == D("0.03")
    totals = order_totals(
        [line("1005", rate="10")],
        shipping=D("0"),
        shipping_tax_rate=D("10"),
        prices_include_tax=False,
        currency="JPY",
    )
    assert totals.tax == D("101")  # 100.5 -> 101
    assert totals.total == D("1106")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"lines": [line("1.005")]}, "not an amount in EUR"),  # finer than a cent
        ({"lines": [line("-1.00")]}, "not an amount in EUR"),
        ({"lines": [line("5.00", discount="6.00")]}, "a discount over its amount"),
        ({"shipping": D("-1")}, "not an amount in EUR"),
    ],
)
def test_amounts_that_are_not_money_are_refused(bad, message):
    arguments = {
        "lines": [line("5.00")],
        "shipping": D("1.00"),
        "shipping_tax_rate": D("20"),
        "prices_include_tax": True,
        "currency": "EUR",
        **bad,
    }
    with pytest.raises(ValueError, match=message):
        order_totals(**arguments)


cents = st.integers(min_value=0, max_value=10_000_000).map(lambda n: D(n) / 100)
rates = st.sampled_from([D("0"), D("5"), D("7.7"), D("8.875"), D("19"), D("20")])


@st.composite
def carts(draw):
    lines = []
    for index in range(draw(st.integers(min_value=0, max_value=12))):
        price = draw(cents)
        quantity = draw(st.integers(min_value=1, max_value=50))
        discount = draw(st.integers(min_value=0, max_value=int(price * quantity * 100)))
        lines.append(PricedLine(index, price, quantity, draw(rates), D(discount) / 100))
    return lines


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lines=carts(), shipping=cents, shipping_rate=rates, included=st.booleans())
def test_the_parts_always_add_up_to_the_total(lines, shipping, shipping_rate, included):
    totals = order_totals(
        lines,
        shipping=shipping,
        shipping_tax_rate=shipping_rate,
        prices_include_tax=included,
        currency="EUR",
    )
    parts = totals.subtotal - totals.discount + totals.shipping
    assert totals.total == (parts if included else parts + totals.tax)
    assert totals.tax == sum((item.tax for item in totals.lines), totals.shipping_tax)
    assert totals.subtotal == sum((item.amount for item in totals.lines), D(0))
    for amount in (totals.total, totals.tax, *(i.tax for i in totals.lines)):
        assert amount == amount.quantize(D("0.01"))
        assert amount >= 0
    for item in totals.lines:
        paid = item.amount - item.discount
        assert item.tax <= paid  # a tax never exceeds what it is levied on


def test_a_discount_is_spread_in_proportion_and_adds_up_to_the_cent():
    from shop.orders.totals import allocate

    # 10.00 over 30.00, 20.00, 50.00: 3.00, 2.00, 5.00
    assert allocate(D("10.00"), [D("30.00"), D("20.00"), D("50.00")], "EUR") == [
        D("3.00"),
        D("2.00"),
        D("5.00"),
    ]
    # 0.10 over three equal lines: 0.04, 0.03, 0.03 (the leftover cent goes first)
    assert allocate(D("0.10"), [D("1.00")] * 3, "EUR") == [
        D("0.04"),
        D("0.03"),
        D("0.03"),
    ]
    assert allocate(D("99"), [D("5.00")], "EUR") == [D("5.00")]  # never beyond
    assert allocate(D("1000"), [D("1500"), D("500")], "JPY") == [D("750"), D("250")]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    amounts=st.lists(cents, min_size=1, max_size=15),
    discount=cents,
)
def test_allocation_always_adds_up_and_never_goes_below_zero(amounts, discount):
    from shop.orders.totals import allocate

    shares = allocate(discount, amounts, "EUR")
    assert sum(shares, D(0)) == min(discount, sum(amounts, D(0)))
    for share, amount in zip(shares, amounts, strict=True):
        assert D(0) <= share <= amount
        assert share == share.quantize(D("0.01"))
