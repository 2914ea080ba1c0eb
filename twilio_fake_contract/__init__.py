"""The contract kit: checks that any server keeps the contract in openapi.yaml.

It never imports the fake. `twilio-fake contract` hands it a fake to start; against any other
server, give it the server's URL and an account (see `python -m twilio_fake_contract --help`).
"""
