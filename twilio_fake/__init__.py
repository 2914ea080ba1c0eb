"""A stateful fake of Twilio's Messaging Service phone number pool, driven by openapi.yaml."""

from importlib.metadata import PackageNotFoundError, version

from .command import start_worker

start_worker()  # only in a worker of `twilio-fake --workers` (command.py)

try:
    __version__ = version("twilio-fake")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
