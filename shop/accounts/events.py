"""Account events on the channel layer: live connections follow their user."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# A user lost their rights (deactivated): their open sockets are closed.
USER_REVOKED = "user.revoked"


def user_group(user_id: int) -> str:
    """The live connections signed in as one user."""
    return f"user.{user_id}"


def user_revoked_publish_on_commit(user_id: int) -> None:
    """Tell the user's open connections, once the change is committed."""

    def publish() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(user_group(user_id), {"type": USER_REVOKED})
        except Exception:  # the sockets' periodic re-check still catches it
            logger.exception("User %s revocation not sent", user_id)

    transaction.on_commit(publish)
