"""The app served for real on a free port, sending through the fake's Messaging Service.

The fake, the account and its SDK client are the twilio-fake plugin's fixtures (`twilio_fake`,
`twilio_account`, `twilio_client`), and so is the account's clock (`twilio_clock`). Twilio calls
the app back over HTTP, so the app must listen: `server` serves it with werkzeug in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from reminders import create_app


@dataclass
class Running:
    app: Flask
    url: str  # where the app listens, and where Twilio calls it back
    service: str  # the Messaging Service it sends through
    senders: list[str]  # the phone numbers in the service's pool

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=30, **kwargs)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=30)


@pytest.fixture
def server(twilio_account, twilio_client) -> Iterator[Running]:
    service = twilio_account.services[0]
    pool = twilio_client.messaging.v1.services(service).phone_numbers
    pool.create(phone_number_sid=twilio_account.numbers[0])  # the service's one sender
    app = create_app(
        {
            "TESTING": True,
            "TWILIO_ACCOUNT_SID": twilio_account.sid,
            "TWILIO_AUTH_TOKEN": twilio_account.auth_token,
            "TWILIO_MESSAGING_SERVICE_SID": service,
            "TWILIO_CLIENT": twilio_client,  # sends to the fake, and nowhere else
        }
    )
    http = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{http.server_port}"
    app.config["PUBLIC_URL"] = url
    # Texts to the service's numbers go to the app (the service's inbound webhook).
    twilio_client.messaging.v1.services(service).update(inbound_request_url=url + "/twilio/inbound")
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield Running(app, url, service, [twilio_account.phone_numbers[0]])
    http.shutdown()
    thread.join(timeout=30)
