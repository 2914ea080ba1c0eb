"""The contract kit: check any server (the fake, Twilio, another fake) against openapi.yaml."""
