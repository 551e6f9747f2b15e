"""Dispatch: every request the assistant cannot settle becomes a tracked Open311 ticket.

``dispatch.server`` is the embedded Open311 GeoReport v2 server (the default backend, application
environment only). What the assistant uses lives beside it and must stay importable from the Rasa
environment, so this package imports nothing at load time: the durable outbox (``dispatch.outbox``) in
front of a ticket backend (``dispatch.backends``: one module per kind of command-centre system; the
Open311 one wraps ``dispatch.open311_client``), and what both sides share (``db``, ``signing``, ``limits``).
"""
