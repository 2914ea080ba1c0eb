"""Messages (`/2010-04-01/Accounts/{AccountSid}/Messages`): send through a number or a service's
pool, list, fetch, redact or cancel, delete; their statuses, callbacks, opt-outs, inbound.

`tables` defines the tables. The rules live in modules of this package, none of which knows HTTP.
`capacity` bounds the messages one account holds, and gives each loaded account its count.
"""

from . import tables as tables
from .capacity import load_fixtures as load_fixtures
