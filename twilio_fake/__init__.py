"""A stateful fake of Twilio's Messaging Service phone number pool, driven by openapi.yaml."""
