"""Settings of worker processes started by tests: the shop's, with a mail backend
that a test can hold mid-send, and a broker that gives back, after
``TEST_VISIBILITY_TIMEOUT`` seconds, a message its dead worker never acknowledged
(an hour by default, as in production)."""

import os

from shop.settings import *  # noqa: F403

EMAIL_BACKEND = "tests.workers.held_mail.EmailBackend"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("TEST_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
