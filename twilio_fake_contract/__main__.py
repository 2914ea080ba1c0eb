"""Allow `python -m twilio_fake_contract`."""

import sys

from .runner import main

sys.exit(main(sys.argv[1:]))
