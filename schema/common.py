"""Types shared by several domains."""

from decimal import Decimal

import strawberry
from django.conf import settings


@strawberry.type(description="An amount of money.")
class Money:
    amount: Decimal = strawberry.field(description='The amount, e.g. "999.00".')
    currency: str = strawberry.field(description='ISO 4217 currency code, e.g. "USD".')

    @classmethod
    def of(cls, amount: Decimal) -> "Money":
        """An amount in the shop's currency."""
        return cls(amount=amount, currency=settings.SHOP_CURRENCY)


@strawberry.type(description="The lowest and highest price among a product's variants.")
class PriceRange:
    min: Money = strawberry.field(description="The cheapest variant's price.")
    max: Money = strawberry.field(description="The dearest variant's price.")
