"""What identifies a cached answer: the request's document, operation and
variables as the operation receives them, the Origin and scheme, and the schema
and settings that shape answers (``fingerprint``), hashed into a Redis key.
"""

import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qsl

from django.conf import settings
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    VariableDefinitionNode,
    ast_from_value,
    parse,
    print_ast,
    type_from_ast,
)
from graphql.execution.values import get_variable_values

from shop.core.persisted_queries import alookup as persisted_document

# Root fields whose answer is the same for every anonymous visitor and changes
# only with the catalog (shop.catalog.cache_tags). Nothing else is cached.
ROOT_FIELDS = frozenset(
    {
        "products",
        "product",
        "variant",
        "categories",
        "category",
        "attributes",
        "shippingMethods",
        "__typename",
    }
)
# Arguments that make a root field's answer depend on more than the catalog: what
# ships for a cart depends on the cart (kept in Redis, changed without a catalog
# write). A field given one of them is not cached.
PRIVATE_ARGUMENTS = {"shippingMethods": frozenset({"cartToken"})}
# Documents longer than this are never cached (they still run).
DOCUMENT_LIMIT = 64 * 1024
_HASH = re.compile(r"[0-9a-fA-F]{64}")


# ---------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class CacheRequest:
    """What identifies a GraphQL request's answer."""

    document_hash: str
    document: str | None  # None: an Apollo persisted-query request (hash only)
    operation_name: str | None
    variables: str  # canonical JSON, as sent (declared or not)
    registers: bool = False  # the document and its hash: Django registers it


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_request(data: object) -> CacheRequest | None:
    """The request's identity from its decoded ``query``, ``variables``,
    ``operationName`` and ``extensions``; None when it is not a single operation
    the cache can answer (Django then decides what it is)."""
    if not isinstance(data, dict):
        return None  # a batch, or not JSON
    document = data.get("query")
    variables = data.get("variables")
    operation_name = data.get("operationName")
    extensions = data.get("extensions")
    if not isinstance(document, str | None) or not isinstance(variables, dict | None):
        return None
    if not isinstance(operation_name, str | None):
        return None
    sha256_hash = None
    if extensions is not None and not isinstance(extensions, dict):
        return None  # strawberry refuses it
    if extensions:
        if set(extensions) != {"persistedQuery"}:
            return None  # other extensions: Django's
        persisted = extensions["persistedQuery"]
        if not isinstance(persisted, dict):
            return None
        version = persisted.get("version")
        if version != 1 or isinstance(version, bool):
            return None  # Django refuses other versions (schema.persisted)
        sha256_hash = persisted.get("sha256Hash")
        if not isinstance(sha256_hash, str) or not _HASH.fullmatch(sha256_hash):
            return None
        sha256_hash = sha256_hash.lower()
    canonical_variables = _canonical(variables or {})
    try:
        # A lone surrogate ("\ud800" in JSON) is not UTF-8: nothing to key it by.
        canonical_variables.encode()
        if operation_name is not None:
            operation_name.encode()
        encoded = None if document is None else document.encode()
    except UnicodeEncodeError:
        return None
    if encoded is not None:
        if len(document) > DOCUMENT_LIMIT:
            return None
        own_hash = hashlib.sha256(encoded).hexdigest()
        if sha256_hash is not None and sha256_hash != own_hash:
            return None  # Django refuses the mismatch
        sha256_hash = own_hash
    elif sha256_hash is None:
        return None
    return CacheRequest(
        document_hash=sha256_hash,
        document=document,
        operation_name=operation_name,
        variables=canonical_variables,
        registers=document is not None and bool(extensions),
    )


def _query_params(query_string: bytes) -> dict | None:
    """A GET's parameters as strawberry reads them (the last of repeated ones),
    ``variables`` and ``extensions`` decoded from JSON."""
    try:
        params = dict(
            parse_qsl(query_string.decode(), keep_blank_values=True, errors="replace")
        )
        for name in ("variables", "extensions"):
            if name in params:
                if not params[name]:
                    return None  # strawberry refuses an empty one
                params[name] = json.loads(params[name])
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return params


# ---------------------------------------------------------------- documents


@dataclass(frozen=True, slots=True)
class Classified:
    cacheable: bool
    operation: str | None = None  # the operation's name, for logs and metrics
    # The variables the operation declares: the only ones its answer depends on.
    variable_definitions: tuple[VariableDefinitionNode, ...] = ()


_NOT_CACHEABLE = Classified(cacheable=False)
_classified: OrderedDict[tuple[str, str | None], Classified] = OrderedDict()
_classified_lock = threading.Lock()
_CLASSIFIED_SIZE = 1024


def classify(document: str, operation_name: str | None) -> Classified:
    """Whether the operation is a query reading only the catalog's root fields
    (fragments on Query followed); the document is parsed, not validated."""
    try:
        parsed = parse(
            document, no_location=True, max_tokens=settings.GRAPHQL_MAX_TOKENS
        )
    except (GraphQLError, RecursionError):
        return _NOT_CACHEABLE
    operations = [
        node for node in parsed.definitions if isinstance(node, OperationDefinitionNode)
    ]
    if operation_name is None:
        operation = operations[0] if len(operations) == 1 else None
    else:
        operation = next(
            (o for o in operations if o.name and o.name.value == operation_name),
            None,
        )
    if operation is None or operation.operation != OperationType.QUERY:
        return _NOT_CACHEABLE
    fragments = {
        node.name.value: node
        for node in parsed.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    pending, seen = [operation.selection_set], set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name not in ROOT_FIELDS or any(
                    argument.name.value in PRIVATE_ARGUMENTS.get(name, ())
                    for argument in selection.arguments or ()
                ):
                    return _NOT_CACHEABLE
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != "Query":
                    return _NOT_CACHEABLE
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or fragment.type_condition.name.value != "Query":
                    return _NOT_CACHEABLE
                if name not in seen:
                    seen.add(name)
                    pending.append(fragment.selection_set)
    return Classified(
        cacheable=True,
        operation=operation.name.value if operation.name else None,
        variable_definitions=tuple(operation.variable_definitions or ()),
    )


def classified_before(request: CacheRequest) -> Classified | None:
    """What ``classified`` found for this document and operation, if it still
    remembers (a hash names one text forever)."""
    key = (request.document_hash, request.operation_name)
    with _classified_lock:
        found = _classified.get(key)
        if found is not None:
            _classified.move_to_end(key)
        return found


def classified(request: CacheRequest, document: str) -> Classified:
    """``classify``, remembered per document hash and operation name."""
    found = classified_before(request)
    if found is not None:
        return found
    found = classify(document, request.operation_name)
    key = (request.document_hash, request.operation_name)
    with _classified_lock:
        _classified[key] = found
        while len(_classified) > _CLASSIFIED_SIZE:
            _classified.popitem(last=False)
    return found


def declared_variables(kind: Classified, variables: object) -> str | None:
    """The variables as the operation receives them: those it declares, coerced
    to their types, defaults applied (``{"first": 1.0}``, ``{"first": 1}`` and
    ``{"first": 1, "junk": ...}`` are one), each printed as a GraphQL literal
    (input fields in the type's order), an omitted one told from a null. None when
    they do not coerce: Django answers the errors, nothing is cached.

    Undeclared variables never reach the answer, so keying on them would only let
    a client make as many entries as it likes of one answer."""
    from schema import schema

    graphql_schema = schema._schema
    try:
        coerced = get_variable_values(
            graphql_schema, kind.variable_definitions, variables or {}
        )
        if not isinstance(coerced, dict):
            return None  # errors
        printed: list[list[str]] = []
        for definition in kind.variable_definitions:
            name = definition.variable.name.value
            if name not in coerced:
                printed.append([name])
                continue
            input_type = type_from_ast(graphql_schema, definition.type)
            node = (
                None
                if input_type is None
                else ast_from_value(coerced[name], input_type)
            )
            if node is None:
                return None
            printed.append([name, print_ast(node)])
    except (GraphQLError, RecursionError, TypeError, ValueError, AttributeError):
        return None
    return _canonical(printed)


# ---------------------------------------------------------------- keys


_fingerprint: str | None = None


def fingerprint() -> str:
    """What else an answer depends on: the schema, and the settings that shape
    answers (GRAPHQL_*, PRODUCT_FILTER_*, SHOP_CURRENCY) and the release. A
    deploy that changes any of them starts from an empty cache."""
    global _fingerprint
    if _fingerprint is None:
        from schema import schema

        shaping = {
            name: repr(getattr(settings, name))
            for name in dir(settings)
            if name.startswith(("GRAPHQL_", "PRODUCT_FILTER_"))
            or name in ("SHOP_CURRENCY", "SENTRY_RELEASE")
        }
        digest = hashlib.sha256(schema.as_str().encode())
        digest.update(_canonical(shaping).encode())
        _fingerprint = digest.hexdigest()[:16]
    return _fingerprint


def _prefix() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or ""
    return f"{prefix}:" if prefix else ""


def entry_key(
    request: CacheRequest,
    *,
    variables: str,
    origin: str | None,
    secure: bool,
    host: str | None = None,
) -> str:
    """The Redis key of the answer to ``request`` with its ``declared_variables``
    (whatever its tags' versions: they are kept inside the entry)."""
    identity = _canonical(
        [
            request.document_hash,
            request.operation_name,
            variables,
            origin,
            secure,
            host,  # media URLs are absolute: on the host the request named
        ]
    )
    digest = hashlib.sha256(identity.encode(errors="surrogatepass")).hexdigest()
    return f"{_prefix()}gql:response:{fingerprint()}:{digest}"


def _budget_key(name: str) -> str:
    return f"{_prefix()}gql:budget:{name}"


# ---------------------------------------------------------------- per process

# What repeated requests would compute again, remembered (a storefront sends the
# same few documents): raw request -> its identity, identity -> key, stored
# headers -> what a hit sends. First in, first out.
_MEMO_SIZE = 1024
_MEMO_RAW_LIMIT = 16 * 1024
_requests: dict[tuple[bool, bytes], tuple[CacheRequest | None, bool]] = {}
_keys: dict[tuple[CacheRequest, str | None, bool], tuple[str, Classified]] = {}


def _remember(memo: dict, key, value) -> None:
    if len(memo) >= _MEMO_SIZE:
        del memo[next(iter(memo))]
    memo[key] = value


def _request_of(is_get: bool, raw: bytes) -> tuple[CacheRequest | None, bool]:
    """The identity of a GET's query string or a POST's body, and whether it
    names a ``query`` (a GET without one may be a browser opening GraphiQL)."""
    found = _requests.get((is_get, raw))
    if found is not None:
        return found
    if is_get:
        params = _query_params(raw)
    else:
        try:
            params = json.loads(raw)
        except (ValueError, RecursionError):
            params = None
    found = (
        None if params is None else cache_request(params),
        isinstance(params, dict) and "query" in params,
    )
    if len(raw) <= _MEMO_RAW_LIMIT:
        _remember(_requests, (is_get, raw), found)
    return found


async def _keyed(
    request: CacheRequest, origin: str | None, secure: bool, host: str | None = None
) -> tuple[str, Classified] | None:
    """The entry key of a cacheable request and its operation; None when the
    request is not cacheable (or its hash names no document this process can
    find). A hash-only request's document is looked up once per process: after
    that, the classification and the key are remembered."""
    memo_key = (request, origin, secure, host)
    found = _keys.get(memo_key)
    if found is not None:
        return found
    kind = classified_before(request)
    if kind is None:
        document = request.document
        if document is None:  # a persisted query: its text, to classify it
            document = await persisted_document(request.document_hash)
        if document is None:
            return None
        kind = classified(request, document)
    if not kind.cacheable:
        return None
    variables = declared_variables(kind, json.loads(request.variables))
    if variables is None:
        return None
    found = (
        entry_key(
            request, variables=variables, origin=origin, secure=secure, host=host
        ),
        kind,
    )
    _remember(_keys, memo_key, found)
    return found
