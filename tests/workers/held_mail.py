"""An email backend for worker processes started by tests: it can be held mid-send.

Each message is first written as ``sending-*.eml`` (with the sending process's id
in its name), then, while the file ``hold`` exists in ``HELD_MAIL_DIR``, the send
waits: a test can kill the worker at that moment. A message that gets through is
written as ``sent-*.eml``.
"""

import os
import time
import uuid
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        folder = Path(os.environ["HELD_MAIL_DIR"])
        for message in email_messages:
            name = f"{os.getpid()}-{uuid.uuid4().hex}.eml"
            (folder / f"sending-{name}").write_bytes(message.message().as_bytes())
            deadline = time.monotonic() + 120
            while (folder / "hold").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            (folder / f"sent-{name}").write_bytes(message.message().as_bytes())
        return len(email_messages)
