"""GraphQL operations for /metrics: one count and one timer per operation (never
per field), by operation type and name (see shop.core.metrics)."""

import time

from django.conf import settings
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from shop.core.metrics import graphql_operation_record


class OperationMetrics(SchemaExtension):
    """Counts each operation by type, name and outcome, and times queries and
    mutations, over HTTP and WebSocket alike; nothing while METRICS_ENABLED is off."""

    def on_operation(self):
        if not settings.METRICS_ENABLED:
            yield
            return
        started = time.perf_counter()
        raised = False
        try:
            yield
        except BaseException:  # refused before it ran: an unknown operation name
            raised = True
            raise
        finally:
            seconds = time.perf_counter() - started
            context = self.execution_context
            try:
                kind = context.operation_type
            except Exception:  # a document that did not parse, or no operation
                kind = None
            try:
                name = context.operation_name
            except Exception:  # a document that did not parse
                name = None
            result = context.result
            failed = (
                raised
                or bool(context.pre_execution_errors)
                or bool(result is not None and result.errors)
            )
            graphql_operation_record(
                kind=kind.value if kind is not None else None,
                name=name,
                failed=failed,
                # A subscription lasts as long as its client wants: counted only.
                seconds=None if kind is OperationType.SUBSCRIPTION else seconds,
            )
