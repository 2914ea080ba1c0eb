"""`python -m twilio_fake`, and the `twilio-fake` command (`main`, its entry point)."""

import sys

from .command import start_command


def main() -> int:
    """Serve (or, as `twilio-fake contract`, check a server). A Ctrl-C while the server is
    imported and built stops it quietly, as it does once the server runs (command.py); the kit's
    run keeps Python's KeyboardInterrupt, so that an interrupted check never exits 0."""
    if sys.argv[1:2] == ["contract"]:
        from .contract_command import contract  # light: the server is another process

        return contract(sys.argv[2:])
    start_command()
    from .cli import main as run  # the heavy imports: after the handlers

    return run()


if __name__ == "__main__":
    sys.exit(main())
