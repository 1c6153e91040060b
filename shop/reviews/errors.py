from shop.core.errors import DomainError, ErrorCode

__all__ = ["ErrorCode", "ReviewError"]


class ReviewError(DomainError):
    """A review rule refused the request (rating, comment, product, author...)."""
