"""POST /webhooks/stripe/: Stripe's events, outside GraphQL and CSRF."""

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from shop.payments.webhooks import (
    WebhookNotConfigured,
    WebhookRejected,
    stripe_event_receive,
)

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """Verify the Stripe-Signature, then record and process the event once.

    400: not a verified Stripe event (nothing recorded; Stripe keeps retrying a
    real one, so a wrong secret shows up in its dashboard). 503: no secret is
    configured. 200: processed now, or a duplicate already processed. An
    unexpected error rolls everything back and answers 500, so Stripe retries.
    """
    try:
        receipt = stripe_event_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except WebhookRejected as error:
        logger.warning("Stripe webhook refused: %s", error)
        return JsonResponse({"error": str(error)}, status=400)
    except WebhookNotConfigured as error:
        logger.error("Stripe webhook refused: %s", error)
        return JsonResponse({"error": str(error)}, status=503)
    except Exception:
        logger.exception("Stripe webhook failed; rolled back for Stripe's retry")
        return JsonResponse(
            {"error": "Processing failed and was rolled back; retry later."},
            status=500,
        )
    return JsonResponse(
        {
            "received": True,
            "id": receipt.event_id,
            "duplicate": receipt.duplicate,
            "outcome": receipt.outcome,
        }
    )
