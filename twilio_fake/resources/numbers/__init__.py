"""An account's incoming phone numbers."""

from . import tables as tables
from .model import load_fixtures as load_fixtures
