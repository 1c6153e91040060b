from shop.core.errors import DomainError, ErrorCode

__all__ = ["DiscountError", "ErrorCode"]


class DiscountError(DomainError):
    """A voucher was refused (unknown, expired, used up, not for this cart)."""
