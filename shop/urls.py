"""URLs. This module and asgi.py are the wiring: the only places in shop/ that
import the GraphQL layer."""

from django.contrib import admin
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from schema import schema
from schema.views import ShopGraphQLView
from shop.catalog.views import media_file
from shop.core.metrics import metrics_view
from shop.core.views import healthz, readyz
from shop.payments.views import stripe_webhook

urlpatterns = [
    # Token-authenticated API, so no CSRF cookie dance for storefronts.
    path(
        "graphql/",
        csrf_exempt(
            ShopGraphQLView.as_view(
                schema=schema, graphql_ide="graphiql", multipart_uploads_enabled=True
            )
        ),
        name="graphql",
    ),
    path("webhooks/stripe/", stripe_webhook, name="stripe-webhook"),
    # Product images on the file system (shop.catalog.media); with S3 storage the
    # URLs point at the bucket or CDN instead.
    path("media/<path:name>", media_file, name="media"),
    path("admin/", admin.site.urls),
    path("healthz/", healthz, name="healthz"),
    path("readyz/", readyz, name="readyz"),
    # Prometheus's default path (METRICS_ENABLED; a 404 while off).
    path("metrics", metrics_view, name="metrics"),
]
