"""The embedded Open311 GeoReport v2 server (application environment): ``create_app(settings, clock)``.

Modules, in the order a request meets them: ``open311`` (the spec's endpoints) and ``dispatcher``
(the staff API) → ``forms`` (input checks) → ``store`` (SQLAlchemy Core, SQLite or PostgreSQL),
``dedup`` and ``catalogue`` → ``views`` and ``output`` (JSON/XML). ``sla`` and ``webhook`` run beside.
"""

from dispatch.server.app import create_app

__all__ = ["create_app"]
