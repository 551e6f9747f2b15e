"""Limits of the GeoReport v2 wire that the client, the outbox and the embedded server must agree on.

One place, so the outbox never queues a description the server would refuse and the server's staff
API applies the same bound to the texts dispatchers write.
"""

from __future__ import annotations

DESCRIPTION_MAX = 4000  # GeoReport v2: "free form text limited to 4,000 characters"
