"""Messaging Services (`/v1/Services`): create, list, fetch, update, delete.

`tables` defines the services table, `model` holds the rules (and the loading of fixture
documents' services), `errors` the errors of this resource.
"""

from . import tables as tables
from .model import load_fixtures as load_fixtures
