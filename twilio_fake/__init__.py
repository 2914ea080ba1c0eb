"""A stateful fake of Twilio's Messaging Service phone number pool, driven by openapi.yaml."""

from .command import start_worker

start_worker()  # first thing: only in a worker of `twilio-fake --workers` (command.py)


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed metadata when first asked for: importing
    `importlib.metadata` takes tens of milliseconds, which the command spends only once its
    Ctrl-C handlers are in place (command.py)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("twilio-fake")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"
