"""Messaging Services (`/v1/Services`)."""

from . import tables as tables
from .model import load_fixtures as load_fixtures
