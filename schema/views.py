"""The HTTP endpoint: POST JSON, GET for GraphiQL in a browser."""

import json
import re

import orjson
from cross_web import HTTPException  # what strawberry's views raise for a 400
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from strawberry.django.views import GraphQLView

from schema import persisted
from schema.context import request_client_ip
from schema.graphiql import DEFAULT_QUERY
from schema.logging import with_request_id
from shop.core.db_routers import (
    allow_replica_reads,
    in_replica_window,
    pin_to_primary,
)

# The GraphQL escape of a NUL character in the document: \u0000 not itself escaped
# (an even run of backslashes before it, "\\u0000", is a backslash and "u0000").
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def _contains_nul(data: object) -> bool:
    """A NUL anywhere in the decoded body, or escaped in the document's text.

    Only the document is parsed again (by GraphQL); variables are values already,
    so the six characters \\u0000 in a password or a search are just text.
    """
    query = data.get("query") if isinstance(data, dict) else None
    if isinstance(query, str) and _NUL_ESCAPE.search(query):
        return True
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _is_request_json(decoded: object) -> bool:
    """An object, or a list of objects (a batch)."""
    if isinstance(decoded, list):
        return all(isinstance(item, dict) for item in decoded)
    return isinstance(decoded, dict)


# The welcome text of the GraphiQL page (shop/templates/graphql/graphiql.html, as
# scripts/vendor_graphiql.py copies it from strawberry): a JavaScript template string.
_EXAMPLE_QUERY = re.compile(r"const EXAMPLE_QUERY = `.*?`;", re.DOTALL)
# What keeps a JSON string inert inside <script> (as Django's json_script does).
_SCRIPT_SAFE = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def _with_default_query(page: str) -> str:
    literal = json.dumps(DEFAULT_QUERY).translate(_SCRIPT_SAFE)
    return _EXAMPLE_QUERY.sub(lambda _: f"const EXAMPLE_QUERY = {literal};", page, 1)


class ShopGraphQLView(GraphQLView):
    """Strawberry's Django view, with more refusals as HTTP 400: a body nested
    too deeply for Python's JSON parser, not UTF-8 or not a JSON object (each a
    500 otherwise), and NUL characters, which PostgreSQL cannot store or compare.
    GraphiQL is served only while GRAPHQL_GRAPHIQL is on (otherwise a browser gets
    a 404).

    Documents may be named by hash (Apollo's automatic persisted queries, POST or
    GET) and, with GRAPHQL_PERSISTED_QUERIES_ONLY, must be registered: see
    schema.persisted. With read replicas, a query's catalog reads go to one once
    its document is known (shop.core.db_routers)."""

    @property
    def graphql_ide(self):
        return self._graphql_ide if settings.GRAPHQL_GRAPHIQL else None

    @graphql_ide.setter
    def graphql_ide(self, value) -> None:
        self._graphql_ide = value

    def dispatch(self, request, *args, **kwargs):
        """strawberry's dispatch, with a refusal's reason sent as UTF-8 whatever
        it quotes: "Unknown operation named ..." repeats the client's name, which
        may hold a lone surrogate ("\\ud800" in JSON), a 500 otherwise. A
        multipart request (file uploads) is judged before its body is read."""
        self._graphql_response = wants_graphql_response(request)
        try:
            multipart_checked(request)
            return self.run(request=request)
        except HTTPException as error:
            return self._request_error(error)

    def _request_error(self, error: HTTPException) -> HttpResponse:
        """A request refused before any operation ran, as GraphQL over HTTP says:
        a JSON body of errors, no data, a 4xx (405 with Allow for a mutation over
        GET), in the media type the client asked for."""
        status, reason = error.status_code, str(error.reason)
        code = getattr(error, "graphql_code", "BAD_REQUEST")
        if reason == "mutations are not allowed when using GET":
            status, code = 405, "METHOD_NOT_ALLOWED"
            reason = "Mutations are sent with POST, not GET."
        body = json.dumps(
            {"errors": [{"message": reason, "extensions": {"code": code}}]},
            ensure_ascii=True,  # a lone surrogate quoted from the client stays JSON
        )
        response = HttpResponse(body, status=status, content_type=self._content_type())
        if status == 405:
            response["Allow"] = "POST"
        return response

    def _content_type(self) -> str:
        if getattr(self, "_graphql_response", False):
            return "application/graphql-response+json; charset=utf-8"
        return "application/json"

    def should_render_graphql_ide(self, request) -> bool:
        # A GET naming its document by hash is an API call, whatever it accepts.
        return (
            super().should_render_graphql_ide(request)
            and request.query_params.get("extensions") is None
        )

    def execute_single(
        self,
        request,
        request_adapter,
        sub_response,
        context,
        root_value,
        request_data,
    ):
        """Runs one operation: its document found by hash first (or refused), and,
        with read replicas, the replica opened for a query."""
        if request_data.operation_name is None and several_operations(
            request_data.query
        ):
            error = HTTPException(
                400,
                "Must provide operationName if the document contains several "
                "operations.",
            )
            error.graphql_code = "GRAPHQL_VALIDATION_FAILED"
            raise error
        if not request_data.extensions and not settings.GRAPHQL_PERSISTED_QUERIES_ONLY:
            resolved = None
        else:
            resolved = persisted.resolve(request_data)
            if isinstance(resolved, persisted.Refusal):
                sub_response.status_code = resolved.status
                for name, value in resolved.headers().items():
                    sub_response[name] = value
                return persisted.Refused(resolved)
            # a document sent by hash or allow-listed is known: planned at once
            request.persisted_query = settings.GRAPHQL_PERSISTED_QUERIES_ONLY or bool(
                (request_data.extensions or {}).get("persistedQuery")
            )
            request_data = resolved.request_data
        if in_replica_window():
            _decide_replica_reads(request_data)
        result = super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        if resolved is not None:
            persisted.register_if_it_ran(
                resolved, result, client_ip=request_client_ip(request)
            )
        return result

    def render_graphql_ide(self, request) -> HttpResponse:
        """GraphiQL, opening on the README's queries (schema.graphiql) instead of
        strawberry's welcome text."""
        response = super().render_graphql_ide(request)
        response.content = _with_default_query(response.content.decode())
        return response

    def process_result(self, request, result):
        """The answer, INTERNAL_SERVER_ERROR and SERVICE_UNAVAILABLE errors with
        ``extensions.requestId`` (also in the X-Request-ID header). For a client
        asking for application/graphql-response+json, a document that does not
        parse or validate is a request error: no ``data`` entry (and a 400,
        ``create_response``)."""
        if isinstance(result, persisted.Refused):
            response = result.refusal.body()
        else:
            response = super().process_result(request, result)
            if (
                getattr(self, "_graphql_response", False)
                and response.get("data") is None
                and response.get("errors")
                and all(
                    (e.get("extensions") or {}).get("code") in REQUEST_ERROR_CODES
                    for e in response["errors"]
                )
            ):
                response.pop("data", None)
                self._document_refused = True
        with_request_id(
            response.get("errors") or [], getattr(request, "request_id", None)
        )
        return response

    def create_response(self, response_data, sub_response):
        response = super().create_response(response_data, sub_response)
        if getattr(self, "_graphql_response", False):
            response["Content-Type"] = self._content_type()
            if getattr(self, "_document_refused", False):
                response.status_code = 400
        return response

    def parse_http_body(self, request):
        """strawberry's, with a body that is not UTF-8 refused as 400 (its
        request adapter decodes the body strictly, a 500 otherwise)."""
        # A POST's JSON is its body; a GET's are its variables and extensions.
        self._decoding_body = request.method != "GET"
        try:
            return super().parse_http_body(request)
        except UnicodeDecodeError as error:
            raise HTTPException(400, "The request body is not UTF-8.") from error

    def encode_json(self, data: object) -> bytes:
        """The answer as JSON in one pass of orjson (UTF-8, no spaces): the
        same document strawberry's json.dumps wrote, non-ASCII characters as
        themselves instead of \\u escapes, several times faster for a listing."""
        return answer_json(data)

    def decode_json(self, data: str | bytes) -> object:
        try:
            decoded = super().decode_json(data)
        except RecursionError as error:
            text = data.decode(errors="replace") if isinstance(data, bytes) else data
            raise json.JSONDecodeError("JSON nested too deeply", text, 0) from error
        if _contains_nul(decoded):
            raise HTTPException(400, "NUL characters (\\u0000) are not allowed.")
        if getattr(self, "_decoding_body", False) and not _is_request_json(decoded):
            # strawberry reads a body (and each request of a batch) as an object:
            # a string, a number or null there was a 500.
            raise HTTPException(400, "The body must be a JSON object.")
        return decoded


# Error codes of a document that does not parse or validate: a request error in
# GraphQL over HTTP (no data, a 4xx for application/graphql-response+json).
REQUEST_ERROR_CODES = frozenset({"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"})


_DJANGO_JSON = DjangoJSONEncoder()


def answer_json(data: object) -> bytes:
    """``data`` as JSON bytes; what orjson cannot write (an integer beyond 64
    bits) is written by json.dumps as before."""
    try:
        return orjson.dumps(data, default=_DJANGO_JSON.default)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def wants_graphql_response(request) -> bool:
    """Whether the client accepts application/graphql-response+json (Apollo
    Client 4 asks for it first): it is then what the answer is."""
    return "application/graphql-response+json" in request.headers.get("Accept", "")


def several_operations(document: str | None) -> bool:
    """Whether a document defines more than one operation (then the request must
    name one). Only documents mentioning two operation keywords or braces at top
    level are parsed (once per process each, shared with the persisted-query
    checks: schema.persisted.operations)."""
    if not document or document.count("{") < 2:
        return False
    if len(_OPERATION_WORDS.findall(document)) + document.lstrip().startswith("{") < 2:
        return False
    return len(persisted.operations(document) or ()) > 1


_OPERATION_WORDS = re.compile(r"\b(?:query|mutation|subscription)\b")


# Headers a browser cannot send cross-site without a CORS preflight, which
# apollo-upload-client sends: a plain HTML form can post multipart/form-data to
# any site (CSRF), but not with these.
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
# What a multipart request may add to its files: the operations, the map and the
# part headers.
MULTIPART_OVERHEAD = 1024 * 1024


def multipart_checked(request) -> None:
    """A multipart POST (a GraphQL multipart request: file uploads) must carry a
    preflight header (400 otherwise) and a Content-Length within MEDIA_MAX_BYTES
    and its overhead (411 without one, 413 above), checked before any of the body
    is read; Django's parser then refuses more than DATA_UPLOAD_MAX_NUMBER_FILES
    files (400)."""
    content_type = request.META.get("CONTENT_TYPE", "").lower()
    if request.method != "POST" or not content_type.startswith("multipart/"):
        return
    if not any(request.headers.get(name) for name in PREFLIGHT_HEADERS):
        raise HTTPException(
            400,
            "A multipart request must carry an Apollo-Require-Preflight header "
            "(apollo-upload-client sends it).",
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        raise HTTPException(
            411, "A multipart request needs a Content-Length."
        ) from None
    if length > settings.MEDIA_MAX_BYTES + MULTIPART_OVERHEAD:
        raise HTTPException(413, "The upload is larger than an image may be.")


def _decide_replica_reads(request_data) -> None:
    """A query may read the catalog from a replica; any other operation (or a
    document that does not parse: execution answers it) reads the primary."""
    query, name = request_data.query, request_data.operation_name
    if (
        isinstance(query, str)
        and isinstance(name, str | None)
        and persisted.operation_type(query, name) == "query"
    ):
        allow_replica_reads()
    else:
        pin_to_primary()
