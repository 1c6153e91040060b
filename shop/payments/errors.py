from shop.core.errors import DomainError, ErrorCode

__all__ = ["ErrorCode", "PaymentError"]


class PaymentError(DomainError):
    """A payment could not be started: the order, the input, or Stripe refused."""
