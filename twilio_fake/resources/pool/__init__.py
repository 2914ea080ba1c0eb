"""A Messaging Service's pool of sender phone numbers (`/v1/Services/{ServiceSid}/PhoneNumbers`)."""

from . import tables as tables
