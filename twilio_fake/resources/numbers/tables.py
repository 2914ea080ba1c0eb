"""The incoming phone numbers table: the numbers an account owns."""

from sqlalchemy import JSON, Column, ForeignKey, String, Table

from twilio_fake.db import Sid, metadata

incoming_phone_numbers = Table(
    "incoming_phone_numbers",
    metadata,
    Column("sid", Sid(), primary_key=True),
    Column("account_sid", Sid(), ForeignKey("accounts.sid"), nullable=False, index=True),
    Column("phone_number", String(16), nullable=False),
    Column("country_code", String(2), nullable=False),
    Column("capabilities", JSON, nullable=False),  # Twilio's names: MMS, SMS, Voice
)
