"""Tax rates as the totals need them."""

from dataclasses import dataclass
from decimal import Decimal

from shop.taxes.models import STANDARD, TaxRate


@dataclass(frozen=True)
class CountryRates:
    """One country's rates (percent) by tax class id; a class without a rate there
    is taxed at 0%."""

    by_class: dict[int, Decimal]
    standard: Decimal

    def of(self, tax_class_id: int | None) -> Decimal:
        """The rate of a product's tax class (None: the standard class)."""
        if tax_class_id is None:
            return self.standard
        return self.by_class.get(tax_class_id, Decimal(0))


def country_rates(country: str) -> CountryRates:
    """The rates of ``country`` (an ISO 3166 code), in one query."""
    rows = TaxRate.objects.filter(country=country.upper()).values_list(
        "tax_class_id", "tax_class__code", "rate"
    )
    by_class, standard = {}, Decimal(0)
    for class_id, code, rate in rows:
        by_class[class_id] = rate
        if code == STANDARD:
            standard = rate
    return CountryRates(by_class, standard)
