from shop.core.errors import DomainError, ErrorCode

__all__ = ["ErrorCode", "OrderError"]


class OrderError(DomainError):
    """An order rule refused the request (stock, status, input...)."""
