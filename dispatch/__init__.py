"""Dispatch: every request the assistant cannot settle becomes a tracked Open311 ticket.

``dispatch.server`` is the embedded Open311 GeoReport v2 server (the default backend, application
environment only). The Open311 client and the durable outbox the assistant uses live beside it and
must stay importable from the Rasa environment, so this package imports nothing at load time.
"""
