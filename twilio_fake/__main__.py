"""Allow `python -m twilio_fake`."""

import sys

from .cli import main

sys.exit(main())
