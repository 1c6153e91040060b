"""Apollo's automatic persisted queries (APQ) over HTTP, and the allow-list mode.

A request may name its document by hash instead of sending it:
``extensions: {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}``, in a
POSTed body or in GET's ``extensions`` parameter (so a CDN can cache it by URL).

- Hash only: the document registered under it runs; unknown, the answer is
  ``PersistedQueryNotFound`` (code PERSISTED_QUERY_NOT_FOUND, HTTP 200), on which
  Apollo Client's persisted-query link sends the document with its hash.
- Document and hash: the hash must be the document's SHA-256 (HTTP 400
  PERSISTED_QUERY_HASH_MISMATCH otherwise); the document runs, and once it has
  parsed, validated and started to execute it is kept under its hash
  (shop.core.persisted_queries) for the next requests, within the registration
  limits per client and in all (it runs either way).
- A version other than 1 or a malformed ``persistedQuery``: HTTP 400,
  PERSISTED_QUERY_VERSION_NOT_SUPPORTED or PERSISTED_QUERY_INVALID.

With GRAPHQL_PERSISTED_QUERIES_ONLY on, nothing is registered at request time:
only documents registered ahead of time (``manage.py persisted_queries register``)
run, named by hash or sent in full; any other document is refused with
PERSISTED_QUERY_NOT_ALLOWED, and an unknown hash still answers
PersistedQueryNotFound.

If Redis does not answer, an unknown hash answers PersistedQueryNotFound, so
Apollo Client sends the document and it runs unregistered; in the allow-list mode
a document this process has not already seen is refused with SERVICE_UNAVAILABLE
instead (the allow-list does not open during an outage).
"""

import functools
import re
from dataclasses import dataclass

from django.conf import settings
from graphql import GraphQLError, OperationDefinitionNode, parse
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from schema.cart.resolvers import SERVICE_UNAVAILABLE
from shop.core.clients import client_key
from shop.core.logs import current_scope
from shop.core.persisted_queries import (
    PersistedQueriesUnavailable,
    afind,
    find,
    register_automatic,
    sha256_hex,
)

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
VERSION_NOT_SUPPORTED = "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"
INVALID = "PERSISTED_QUERY_INVALID"

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
# A CDN or a browser must not keep these answers: the next try may succeed.
_NO_STORE = {"Cache-Control": "private, no-cache, no-store, must-revalidate"}


@dataclass(frozen=True)
class Refusal:
    """An answer given instead of running the request: one top-level error, no
    ``data`` (the request did not start, as GraphQL over HTTP says)."""

    code: str
    message: str
    status: int = 200

    def body(self) -> dict:
        return {
            "errors": [{"message": self.message, "extensions": {"code": self.code}}]
        }

    def headers(self) -> dict[str, str]:
        return _NO_STORE


_NOT_FOUND = Refusal(NOT_FOUND, "PersistedQueryNotFound")
_NOT_ALLOWED = Refusal(
    NOT_ALLOWED,
    "This server runs registered documents only, and this one is not registered: "
    "send a registered document or its persistedQuery hash.",
)
_HASH_MISMATCH = Refusal(HASH_MISMATCH, "provided sha does not match query", 400)
_VERSION_NOT_SUPPORTED = Refusal(
    VERSION_NOT_SUPPORTED,
    "Unsupported persisted query version: extensions.persistedQuery.version must be 1.",
    400,
)
_INVALID = Refusal(
    INVALID,
    "extensions.persistedQuery must be an object {version: 1, sha256Hash: <the "
    "document's SHA-256 as 64 hex digits>}.",
    400,
)
_UNAVAILABLE = Refusal(
    SERVICE_UNAVAILABLE,
    "Persisted queries are unavailable right now; try again shortly.",
)


class Refused(ExecutionResult):
    """What the view's execute_single gives back for a Refusal."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(data=None, errors=None)
        self.refusal = refusal


@dataclass(frozen=True)
class Resolved:
    """The request with its document; ``register`` is the hash to keep the
    document under once it has run (None: nothing to register)."""

    request_data: GraphQLRequestData
    register: str | None = None


def _refused(refusal: Refusal) -> Refusal:
    scope = current_scope()
    if scope is not None:
        scope.error_codes.append(refusal.code)
    return refusal


def resolve(request_data: GraphQLRequestData) -> Resolved | Refusal:
    """The document a request runs (see the module), or why it does not run."""
    extensions = request_data.extensions
    persisted = extensions.get("persistedQuery") if extensions else None
    only = settings.GRAPHQL_PERSISTED_QUERIES_ONLY
    query = request_data.query
    if persisted is None:
        if only and query:
            return _allow_listed(sha256_hex(query), request_data)
        return Resolved(request_data)

    if not isinstance(persisted, dict):
        return _refused(_INVALID)
    version = persisted.get("version")
    if version != 1 or isinstance(version, bool):
        return _refused(_VERSION_NOT_SUPPORTED)
    sha256_hash = persisted.get("sha256Hash")
    if not isinstance(sha256_hash, str) or not _SHA256_HEX.fullmatch(sha256_hash):
        return _refused(_INVALID)
    sha256_hash = sha256_hash.lower()

    if not query:
        try:
            document = find(sha256_hash, allow_listed_only=only)
        except PersistedQueriesUnavailable:
            # Sent in full, the document runs (unregistered): unless only
            # allow-listed documents may, which cannot be checked now.
            return _refused(_UNAVAILABLE if only else _NOT_FOUND)
        if document is None:
            return _refused(_NOT_FOUND)
        return Resolved(
            GraphQLRequestData(
                query=document,
                variables=request_data.variables,
                operation_name=request_data.operation_name,
                extensions=extensions,
                protocol=request_data.protocol,
            )
        )

    if sha256_hex(query) != sha256_hash:
        return _refused(_HASH_MISMATCH)
    if only:
        return _allow_listed(sha256_hash, request_data)
    return Resolved(request_data, register=sha256_hash)


def _allow_listed(
    sha256_hash: str, request_data: GraphQLRequestData
) -> Resolved | Refusal:
    try:
        if find(sha256_hash, allow_listed_only=True) is None:
            return _refused(_NOT_ALLOWED)
    except PersistedQueriesUnavailable:
        return _refused(_UNAVAILABLE)
    return Resolved(request_data)


async def refusal_over_socket(document: object) -> GraphQLError | None:
    """For GraphQL over WebSocket, where documents come in full (graphql-ws has no
    persisted queries): with GRAPHQL_PERSISTED_QUERIES_ONLY on, the error that
    refuses a document that is not allow-listed (PERSISTED_QUERY_NOT_ALLOWED, or
    SERVICE_UNAVAILABLE while Redis cannot tell); None when it may run."""
    if not settings.GRAPHQL_PERSISTED_QUERIES_ONLY or not isinstance(document, str):
        return None
    try:
        found = await afind(sha256_hex(document), allow_listed_only=True)
    except PersistedQueriesUnavailable:
        refusal = _refused(_UNAVAILABLE)
    else:
        if found is not None:
            return None
        refusal = _refused(_NOT_ALLOWED)
    return GraphQLError(refusal.message, extensions={"code": refusal.code})


def register_if_it_ran(
    resolved: Resolved, result: ExecutionResult, *, client_ip: str | None
) -> None:
    """Keep the resolved document under its hash if it parsed, validated and
    started to execute: some data, or an error raised by a field (errors without
    a path are the document's own: syntax, validation, limits, variables). Each
    client registers within its limit (shop.core.persisted_queries)."""
    if resolved.register is None:
        return
    if result.data is not None or any(error.path for error in result.errors or ()):
        register_automatic(
            resolved.register,
            resolved.request_data.query,
            client=client_key(client_ip),
        )


@functools.lru_cache(maxsize=settings.GRAPHQL_DOCUMENT_CACHE_SIZE)
def operations(document: str) -> tuple[OperationDefinitionNode, ...] | None:
    """The operations ``document`` defines, parsed once per process (within
    GRAPHQL_MAX_TOKENS); None when it does not parse (execution reports that)."""
    try:
        parsed = parse(
            document, no_location=True, max_tokens=settings.GRAPHQL_MAX_TOKENS
        )
    except GraphQLError:
        return None
    return tuple(
        d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)
    )


@functools.lru_cache(maxsize=settings.GRAPHQL_DOCUMENT_CACHE_SIZE)
def operation_type(document: str, operation_name: str | None) -> str | None:
    """ "query", "mutation" or "subscription": the operation ``operation_name``
    selects in ``document`` (its first operation without a name); None when the
    document does not parse or has no such operation (execution reports that)."""
    found = operations(document)
    if found is None:
        return None
    for definition in found:
        if operation_name is None or (
            definition.name is not None and definition.name.value == operation_name
        ):
            return definition.operation.value
    return None
