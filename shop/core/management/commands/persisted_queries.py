"""manage.py persisted_queries register|list|remove: the allow-list of GraphQL
documents (see shop.core.persisted_queries).

``register`` takes Apollo's persisted-query manifests (JSON, format
"apollo-persisted-query-manifest", as @apollo/generate-persisted-query-manifest
writes them) and .graphql files (each file one document, registered byte for byte
as a client sending that file's text would send it). Every document must parse
within GRAPHQL_MAX_TOKENS and validate against the served schema (the checked-in
schema/schema.graphql, which a test keeps equal to it); a manifest entry's id must
be the SHA-256 of its body and its type the operation's. One wrong entry and
nothing is registered.
"""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
)

from shop.core import persisted_queries

MANIFEST_FORMAT = "apollo-persisted-query-manifest"


def shared_redis_required(what: str) -> None:
    """Refuse (CommandError) in the embedded mode: without REDIS_URL each process
    has its own in-process Redis stand-in, so a command would change only its own,
    and the running server would never see it."""
    if settings.EMBEDDED_REDIS:
        raise CommandError(
            f"{what} lives in Redis, and REDIS_URL is unset: each process has its "
            "own in-process stand-in, so this command would change nothing the "
            "server sees. Set REDIS_URL to the server's Redis."
        )


class Command(BaseCommand):
    help = (
        "The allow-list of GraphQL documents clients may name by hash (and, with "
        "GRAPHQL_PERSISTED_QUERIES_ONLY, the only documents the API runs)."
    )

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        register = actions.add_parser(
            "register",
            help="Add the documents of Apollo persisted-query manifests (.json) "
            "and .graphql files; they never expire.",
        )
        register.add_argument("files", nargs="+", type=Path)
        register.add_argument(
            "--schema",
            type=Path,
            default=Path(settings.BASE_DIR) / "schema" / "schema.graphql",
            help="The schema (SDL) to validate against (default: %(default)s).",
        )
        actions.add_parser("list", help="Print each registered document's hash.")
        remove = actions.add_parser(
            "remove",
            help="Remove documents by hash (every process stops running them "
            "within a minute).",
        )
        remove.add_argument("hashes", nargs="+")

    def handle(self, *args, action: str, **options) -> None:
        shared_redis_required("The allow-list")
        if action == "register":
            self.register(options["files"], options["schema"])
        elif action == "list":
            self.print_documents()
        else:
            removed = persisted_queries.disallow(options["hashes"])
            self.stdout.write(f"{removed} removed.")

    def register(self, files: list[Path], schema_file: Path) -> None:
        try:
            schema = build_schema(schema_file.read_text())
        except (OSError, GraphQLError) as error:
            raise CommandError(
                f"Cannot read the schema {schema_file}: {error}"
            ) from None
        documents: list[str] = []
        for path in files:
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(f"Cannot read {path}: {error}") from None
            if path.suffix == ".json":
                documents.extend(_manifest_documents(path, text, schema))
            else:
                _checked(text, schema, where=str(path))
                documents.append(text)
        added, existing = persisted_queries.allow(documents)
        self.stdout.write(f"{added} registered, {existing} already registered.")

    def print_documents(self) -> None:
        documents = persisted_queries.allow_listed()
        for sha256_hash, document in documents.items():
            self.stdout.write(f"{sha256_hash}  {_operations(document)}")
        self.stdout.write(f"{len(documents)} documents.")


def _manifest_documents(path: Path, text: str, schema: GraphQLSchema) -> list[str]:
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{path} is not JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise CommandError(
            f'{path} is not a manifest: expected "format": "{MANIFEST_FORMAT}" '
            "(or name a .graphql file)."
        )
    if manifest.get("version") != 1:
        raise CommandError(f"{path}: only manifest version 1 is known.")
    operations = manifest.get("operations")
    if not isinstance(operations, list):
        raise CommandError(f'{path}: "operations" must be a list.')
    documents = []
    for index, operation in enumerate(operations):
        where = f"{path}, operation {index}"
        if (
            not isinstance(operation, dict)
            or not {
                "id",
                "name",
                "type",
                "body",
            }
            <= operation.keys()
        ):
            raise CommandError(f"{where}: each operation has id, name, type and body.")
        body = operation["body"]
        if not isinstance(body, str) or not _is_utf8(body):
            raise CommandError(f"{where}: body must be a string of UTF-8 text.")
        if operation["id"] != persisted_queries.sha256_hex(body):
            raise CommandError(
                f"{where} ({operation['name']}): its id is not the SHA-256 of its body."
            )
        kind = _checked(body, schema, where=where, name=operation["name"])
        if kind != operation["type"]:
            raise CommandError(
                f"{where} ({operation['name']}): it is a {kind}, not a "
                f"{operation['type']}."
            )
        documents.append(body)
    return documents


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        return False
    return True


def _checked(
    document: str, schema: GraphQLSchema, *, where: str, name: str | None = None
) -> str:
    """The type of the document's operation (the one named ``name``, or its
    first); CommandError if it does not parse, validate or have one."""
    try:
        parsed = parse(document, max_tokens=settings.GRAPHQL_MAX_TOKENS)
    except GraphQLError as error:
        raise CommandError(f"{where}: {error.message}") from None
    errors = validate(schema, parsed)
    if errors:
        raise CommandError(f"{where}: {errors[0].message}")
    for definition in parsed.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name and definition.name.value == name)
        ):
            return definition.operation.value
    raise CommandError(f"{where}: no operation{f' named {name}' if name else ''}.")


def _operations(document: str) -> str:
    try:
        parsed = parse(document)
    except GraphQLError:
        return "(does not parse)"
    return ", ".join(
        f"{definition.operation.value} "
        f"{definition.name.value if definition.name else '(anonymous)'}"
        for definition in parsed.definitions
        if isinstance(definition, OperationDefinitionNode)
    )
