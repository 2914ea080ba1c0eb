"""Thin HTTP handlers: connexion calls them by the operationId in the specs."""
