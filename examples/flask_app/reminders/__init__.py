"""Appointment reminders: a small Flask app that texts through a Twilio Messaging Service.

- `POST /reminders` (JSON `{"to": "+1…", "body": "…"}`) sends a text through the service, asking
  Twilio to report its progress to `/twilio/status`;
- `GET /reminders/<sid>` says what became of it (its status, the statuses reported, in order);
- `POST /twilio/status` takes Twilio's status callbacks, `POST /twilio/inbound` the texts people
  send to the service's numbers (answered with TwiML).

Both webhooks refuse (403) a request whose `X-Twilio-Signature` twilio's RequestValidator does
not accept. Callbacks may come twice or out of order (Twilio says so): a status never moves a
message back, and a repeated one is recorded once.

Configuration (`create_app(config)`, else the environment): TWILIO_ACCOUNT_SID,
TWILIO_AUTH_TOKEN, TWILIO_MESSAGING_SERVICE_SID, PUBLIC_URL (where Twilio reaches this app: the
signature is computed over that URL), and TWILIO_CLIENT, a ready `twilio.rest.Client` (the tests
give the fake's; by default one is built from the credentials).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, request, url_for
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

# How far along a message is: a callback for an earlier status than the one recorded arrived
# late, and changes nothing. The three final statuses share the last rank.
PROGRESS = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
}
OPT_OUT_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit"}  # Twilio answers these


@dataclass
class Reminder:
    sid: str
    to: str
    status: str
    error_code: int | None = None
    reported: list[str] = field(default_factory=list)  # each status reported, once, as it came


class Store:
    """What the app knows: its reminders and the texts it received (in memory; a real app would
    keep them in its database)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reminders: dict[str, Reminder] = {}
        self.received: list[dict[str, str]] = []

    def sent(self, sid: str, to: str, status: str) -> None:
        with self.lock:
            self.reminders.setdefault(sid, Reminder(sid, to, status))

    def reported(self, sid: str, status: str, error_code: str | None) -> bool:
        """Record a status callback; False for a message this app did not send."""
        with self.lock:
            reminder = self.reminders.get(sid)
            if reminder is None:
                return False
            if status not in reminder.reported:
                reminder.reported.append(status)
            if PROGRESS.get(status, -1) > PROGRESS.get(reminder.status, -1):
                reminder.status = status
                reminder.error_code = int(error_code) if error_code else None
            return True


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        TWILIO_ACCOUNT_SID=os.environ.get("TWILIO_ACCOUNT_SID"),
        TWILIO_AUTH_TOKEN=os.environ.get("TWILIO_AUTH_TOKEN"),
        TWILIO_MESSAGING_SERVICE_SID=os.environ.get("TWILIO_MESSAGING_SERVICE_SID"),
        PUBLIC_URL=os.environ.get("PUBLIC_URL"),
        TWILIO_CLIENT=None,
    )
    app.config.from_mapping(config or {})
    app.extensions["reminders"] = Store()

    @app.post("/reminders")
    def send_reminder() -> tuple[Response, int]:
        form = request.get_json(silent=True) or {}
        to, body = form.get("to"), form.get("body")
        if not isinstance(to, str) or not isinstance(body, str):
            return jsonify(error="to and body are required"), 400
        try:
            message = twilio().messages.create(
                messaging_service_sid=current_app.config["TWILIO_MESSAGING_SERVICE_SID"],
                to=to,
                body=body,
                status_callback=public_url(url_for("status_callback")),
            )
        except TwilioRestException as error:
            # 21610: the recipient texted STOP. Twilio's code tells the caller why.
            return jsonify(error=error.msg, code=error.code), 422
        store().sent(message.sid, to, message.status)
        return jsonify(sid=message.sid, status=message.status), 201

    @app.get("/reminders/<sid>")
    def show_reminder(sid: str) -> tuple[Response, int]:
        with store().lock:
            reminder = store().reminders.get(sid)
            if reminder is None:
                return jsonify(error="no such reminder"), 404
            return jsonify(
                sid=reminder.sid,
                to=reminder.to,
                status=reminder.status,
                error_code=reminder.error_code,
                reported=list(reminder.reported),
            ), 200

    @app.post("/twilio/status")
    @signed_by_twilio
    def status_callback() -> tuple[str, int]:
        known = store().reported(
            request.form["MessageSid"], request.form["MessageStatus"], request.form.get("ErrorCode")
        )
        return "", 204 if known else 404

    @app.post("/twilio/inbound")
    @signed_by_twilio
    def inbound() -> Response:
        text = dict(request.form.items())
        with store().lock:
            store().received.append(text)
        answer = MessagingResponse()
        if text.get("Body", "").strip().lower() not in OPT_OUT_WORDS:  # Twilio answers STOP
            answer.message("Thanks! Reply STOP to stop reminders.")
        return Response(str(answer), mimetype="application/xml")

    return app


def signed_by_twilio(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse (403) a request that Twilio did not sign with the account's auth token."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
        url = public_url(request.full_path if request.query_string else request.path)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(url, request.form, signature):
            abort(403)
        return view(*args, **kwargs)

    return checked


def public_url(path: str) -> str:
    """The URL Twilio uses for one of this app's paths (what the signature covers)."""
    base = current_app.config["PUBLIC_URL"] or request.host_url
    return base.rstrip("/") + path


def twilio() -> Client:
    client = current_app.config["TWILIO_CLIENT"]
    if client is None:
        config = current_app.config
        client = Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"])
        config["TWILIO_CLIENT"] = client
    return client


def store() -> Store:
    return current_app.extensions["reminders"]
