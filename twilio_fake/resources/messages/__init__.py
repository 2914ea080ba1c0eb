"""Messages (`/2010-04-01/Accounts/{AccountSid}/Messages`): send through a number or a service's
pool, list, fetch, redact or cancel, delete; their statuses, callbacks, opt-outs, inbound.

`tables` defines the tables. The rules live in modules of this package, none of which knows HTTP.
"""

from . import tables as tables
