"""A local stand-in for Stripe's HTTP API, and signed webhook events.

``FakeStripe`` is a real HTTP server on 127.0.0.1 answering the calls the shop
makes (Checkout Sessions, PaymentIntents, refunds) the way Stripe does, including
idempotency keys, and recording every request so tests can assert the exact
parameters sent. Nothing is mocked inside the shop: its Stripe client talks HTTP
to this server through ``STRIPE_API_BASE``.
"""

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import stripe

_KEY = re.compile(r"\[([^\]]*)\]")


def form_decode(body: str) -> dict:
    """Stripe's form encoding (``line_items[0][price_data][currency]=usd``) back
    into nested dicts and lists; values stay strings, as Stripe receives them."""
    tree: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head = key.split("[", 1)[0]
        path = [head, *_KEY.findall(key[len(head) :])]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value

    def listify(node):
        if isinstance(node, dict):
            if node and all(k.isdigit() for k in node):
                return [listify(node[k]) for k in sorted(node, key=int)]
            return {k: listify(v) for k, v in node.items()}
        return node

    return listify(tree)


@dataclass
class Call:
    method: str
    path: str
    params: dict
    idempotency_key: str | None
    authorization: str | None


class StripeFailure(Exception):
    def __init__(self, status: int, error: dict) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error


class FakeStripe:
    """Answers /v1/checkout/sessions, /v1/payment_intents and /v1/refunds."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.sessions: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self._replies: dict[str, tuple[str, int, dict]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._failures: list[StripeFailure] = []
        self.delay_after_work = 0.0
        # The status Stripe gives a refund the shop asks for ("pending" for a bank
        # debit's, "succeeded" for most cards').
        self.new_refund_status = "succeeded"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---------------------------------------------------------- test controls

    def fail_next(self, status: int, type_: str, message: str, code: str = "") -> None:
        """The next call is refused with this Stripe error."""
        self._failures.append(
            StripeFailure(status, {"type": type_, "message": message, "code": code})
        )

    def creates(self, path: str) -> list[Call]:
        """The POSTs made to ``path`` (e.g. "/v1/checkout/sessions")."""
        return [c for c in self.calls if c.method == "POST" and c.path == path]

    def complete_session(self, session_id: str, payment_status: str = "paid") -> dict:
        """The buyer finishes the hosted page; returns the session as Stripe would
        send it in checkout.session.completed."""
        with self._lock:
            session = self.sessions[session_id]
            intent = self._intent(
                amount=session["amount_total"],
                currency=session["currency"],
                metadata=session["_intent_metadata"],
            )
            if payment_status == "paid":
                intent.update(status="succeeded", amount_received=intent["amount"])
            else:
                intent["status"] = "processing"
            session.update(
                status="complete",
                payment_status=payment_status,
                payment_intent=intent["id"],
            )
            return self.public(session)

    def succeed_intent(self, intent_id: str) -> dict:
        """The buyer pays a PaymentIntent through Stripe Elements."""
        with self._lock:
            intent = self.intents[intent_id]
            intent.update(status="succeeded", amount_received=intent["amount"])
            return dict(intent)

    def refund_intent(
        self, intent_id: str, *, amount: int | None = None, status: str = "succeeded"
    ) -> dict:
        """A refund made outside the shop (Stripe's dashboard); returns it."""
        with self._lock:
            intent = self.intents[intent_id]
            return dict(
                self._refund(intent, amount or intent["amount_received"], {}, status)
            )

    def refund_becomes(
        self, refund_id: str, status: str, failure_reason: str | None = None
    ) -> dict:
        """A refund changes state at Stripe (a bank debit's refund settles or
        fails); returns it as charge.refund.updated and refund.* send it."""
        with self._lock:
            refund = self.refunds[refund_id]
            refund.update(status=status, failure_reason=failure_reason)
            return dict(refund)

    def _refund(self, intent: dict, amount: int, metadata: dict, status: str):
        refund = {
            "id": self._new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": f"ch_test_{intent['id']}",
            "status": status,
            "failure_reason": None,
            "metadata": metadata,
        }
        self.refunds[refund["id"]] = refund
        refunded = sum(
            r["amount"]
            for r in self.refunds.values()
            if r["payment_intent"] == intent["id"]
            and r["status"] not in ("failed", "canceled")
        )
        intent["_refunded"] = refunded >= intent["amount_received"]
        return refund

    @staticmethod
    def public(obj: dict) -> dict:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # ---------------------------------------------------------- the API

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):06d}"

    def _intent(self, *, amount: int, currency: str, metadata: dict) -> dict:
        intent_id = self._new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "metadata": metadata,
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{next(self._ids):06d}",
            "latest_charge": None,
        }
        self.intents[intent_id] = intent
        return intent

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/checkout/sessions":
            session_id = self._new_id("cs")
            items = params["line_items"]
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": params["mode"],
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "status": "open",
                "payment_status": "unpaid",
                # As Stripe totals a session: its line items, and the shipping
                # option it preselects when it offers exactly one.
                "amount_total": sum(
                    int(i["quantity"]) * int(i["price_data"]["unit_amount"])
                    for i in items
                )
                + _single_shipping(params),
                "_shipping_options": params.get("shipping_options", []),
                "_line_items": items,
                "currency": items[0]["price_data"]["currency"],
                "client_reference_id": params.get("client_reference_id"),
                "customer_email": params.get("customer_email"),
                "expires_at": int(params["expires_at"]),
                "metadata": params.get("metadata", {}),
                "payment_intent": None,
                "success_url": params["success_url"],
                "cancel_url": params["cancel_url"],
                "_intent_metadata": params.get("payment_intent_data", {}).get(
                    "metadata", {}
                ),
            }
            self.sessions[session_id] = session
            return 200, self.public(session)
        if match := re.fullmatch(r"/v1/checkout/sessions/([\w]+)(/expire)?", path):
            session = self.sessions.get(match[1])
            if session is None:
                raise StripeFailure(404, _missing("checkout.session", match[1]))
            if match[2]:
                if session["status"] != "open":
                    raise StripeFailure(
                        400,
                        {
                            "type": "invalid_request_error",
                            "message": "Only Checkout Sessions with a status of "
                            "`open` can be expired.",
                            "code": "",
                        },
                    )
                session["status"] = "expired"
            return 200, self.public(session)
        if method == "POST" and path == "/v1/payment_intents":
            intent = self._intent(
                amount=int(params["amount"]),
                currency=params["currency"],
                metadata=params.get("metadata", {}),
            )
            return 200, dict(intent)
        if match := re.fullmatch(r"/v1/payment_intents/([\w]+)(/cancel)?", path):
            intent = self.intents.get(match[1])
            if intent is None:
                raise StripeFailure(404, _missing("payment_intent", match[1]))
            if match[2]:
                if intent["status"] in ("succeeded", "processing", "canceled"):
                    raise StripeFailure(
                        400,
                        {
                            "type": "invalid_request_error",
                            "message": "You cannot cancel this PaymentIntent because "
                            f"it has a status of {intent['status']}.",
                            "code": "payment_intent_unexpected_state",
                        },
                    )
                intent["status"] = "canceled"
            return 200, dict(intent)
        if method == "POST" and path == "/v1/refunds":
            intent = self.intents.get(params.get("payment_intent", ""))
            if intent is None or intent["status"] != "succeeded":
                raise StripeFailure(404, _missing("payment_intent", str(params)))
            if intent.get("_refunded"):
                raise StripeFailure(
                    400,
                    {
                        "type": "invalid_request_error",
                        "message": "Charge has already been refunded.",
                        "code": "charge_already_refunded",
                    },
                )
            refund = self._refund(
                intent,
                intent["amount_received"],
                params.get("metadata", {}),
                self.new_refund_status,
            )
            return 200, dict(refund)
        if method == "GET" and path == "/v1/refunds":
            data = [
                dict(refund)
                for refund in reversed(self.refunds.values())
                if refund["payment_intent"] == params.get("payment_intent")
            ]
            return 200, {
                "object": "list",
                "url": "/v1/refunds",
                "has_more": False,
                "data": data,
            }
        raise StripeFailure(404, _missing("route", path))

    def _answer(self, method: str, path: str, params: dict, key: str | None):
        """(status, body) as Stripe answers, replaying idempotent POSTs."""
        with self._lock:
            if self._failures:
                failure = self._failures.pop(0)
                return failure.status, {"error": failure.error}
            if method == "POST" and key and key in self._replies:
                first_path, status, body = self._replies[key]
                first_params = self._replies[key + ":params"]
                if first_path != path or first_params != params:
                    return 400, {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be "
                            "used with the same parameters they were first used with.",
                        }
                    }
                return status, body
            try:
                status, body = self._route(method, path, params)
            except StripeFailure as failure:
                status, body = failure.status, {"error": failure.error}
            if method == "POST" and key:
                self._replies[key] = (path, status, body)
                self._replies[key + ":params"] = params
            return status, body

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                path, _, query = self.path.partition("?")
                params = form_decode(raw or query)
                key = self.headers.get("Idempotency-Key")
                fake.calls.append(
                    Call(method, path, params, key, self.headers.get("Authorization"))
                )
                status, body = fake._answer(method, path, params, key)
                if fake.delay_after_work:
                    delay, fake.delay_after_work = fake.delay_after_work, 0.0
                    time.sleep(delay)  # the work is done; the answer comes too late
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Request-Id", f"req_{next(fake._ids)}")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, *args) -> None:
                pass

        return Handler


def _missing(kind: str, ident: str) -> dict:
    return {
        "type": "invalid_request_error",
        "message": f"No such {kind}: '{ident}'",
        "code": "resource_missing",
    }


# ---------------------------------------------------------------- webhook events

_events = itertools.count(1)


def stripe_event(type_: str, obj: dict, *, event_id: str | None = None) -> dict:
    """A Stripe event envelope around ``obj``."""
    return {
        "id": event_id or f"evt_test_{next(_events):06d}_{time.time_ns()}",
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": type_,
        "data": {"object": obj},
    }


def signature_for(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send with ``payload``."""
    return stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=timestamp
    )


def charge_refunded(
    intent: dict, *, amount_refunded: int | None = None, refunds: list | None = None
) -> dict:
    """The charge object of charge.refunded for a PaymentIntent's payment; with
    ``refunds``, the charge lists them (as older API versions send it)."""
    amount = intent["amount"]
    refunded = amount if amount_refunded is None else amount_refunded
    charge = {
        "id": f"ch_test_{intent['id']}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "refunded": refunded >= amount,
        "currency": intent["currency"],
        "payment_intent": intent["id"],
        "metadata": intent.get("metadata", {}),
    }
    if refunds is not None:
        charge["refunds"] = {"object": "list", "data": refunds, "has_more": False}
    return charge


def _single_shipping(params: dict) -> int:
    options = params.get("shipping_options") or []
    if not options:
        return 0
    if len(options) != 1:
        raise AssertionError("the shop offers exactly one shipping option")
    rate = options[0]["shipping_rate_data"]
    assert rate["type"] == "fixed_amount"
    return int(rate["fixed_amount"]["amount"])
