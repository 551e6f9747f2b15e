"""Tables of the dispatch store (SQLAlchemy Core; the same schema on SQLite and PostgreSQL).

Times are stored as naive UTC (SQLite has no zone type); ``store`` attaches UTC on the way out.
A duplicate report is a ticket of its own (the reporter gets a number to follow and to rate) whose
``parent_id`` points at the case the command centre works on; only parents enter the work queue.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

tickets = Table(
    "dispatch_tickets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_request_id", String(32), nullable=False, unique=True),
    Column("token", String(64), nullable=False, unique=True),
    Column("idempotency_key", String(200), unique=True),
    Column("service_code", String(64), nullable=False),
    Column("service_name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("lat", Float),
    Column("long", Float),
    Column("address_string", Text),
    Column("address_id", String(500)),
    Column("grid", String(200)),
    Column("media_url", Text),
    Column("attributes", Text, nullable=False),  # JSON object code -> value (list for multivaluelist)
    Column("email", String(500)),
    Column("first_name", String(500)),
    Column("last_name", String(500)),
    Column("phone", String(64)),
    Column("device_id", String(500)),
    Column("account_id", String(500)),
    Column("channel", String(64)),
    Column("sender_id", String(500)),
    Column("transcript", Text),
    Column("urgent", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # submitted | signed | assigned | reopened | closed
    Column("status_notes", Text, nullable=False),
    Column("department", String(200), nullable=False),
    Column("co_departments", Text, nullable=False),  # JSON list: departments called in by 吹哨 or 督办
    Column("result", Text),
    Column("parent_id", Integer, ForeignKey("dispatch_tickets.id")),
    Column("reporters", Integer, nullable=False),
    Column("overdue_level", Integer, nullable=False),
    Column("requested_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("signed_at", DateTime),
    Column("assigned_at", DateTime),
    Column("closed_at", DateTime),
    Column("sign_due", DateTime, nullable=False),
    Column("dispatch_due", DateTime, nullable=False),
    Column("close_due", DateTime, nullable=False),
)
Index("ix_dispatch_tickets_requested", tickets.c.requested_at)
Index("ix_dispatch_tickets_status", tickets.c.status, tickets.c.service_code)
Index("ix_dispatch_tickets_parent", tickets.c.parent_id)
Index("ix_dispatch_tickets_sender", tickets.c.sender_id)
Index("ix_dispatch_tickets_phone", tickets.c.phone)

history = Table(
    "dispatch_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("dispatch_tickets.id"), nullable=False, index=True),
    Column("at", DateTime, nullable=False),
    Column("action", String(32), nullable=False),  # created linked signed assigned note escalated overdue closed ...
    Column("actor", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # the internal status after the action
    Column("note", Text, nullable=False),
    Column("public", Boolean, nullable=False),
)

ratings = Table(
    "dispatch_ratings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("dispatch_tickets.id"), nullable=False, unique=True),
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", DateTime, nullable=False),
)

supervision = Table(
    "dispatch_supervision", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("dispatch_tickets.id"), nullable=False),
    Column("stage", String(16), nullable=False),  # sign | dispatch | close
    Column("due_at", DateTime, nullable=False),
    Column("detected_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
    UniqueConstraint("ticket_id", "stage", "due_at"),
)

counters = Table(
    "dispatch_counters", metadata,
    Column("day", String(8), primary_key=True),
    Column("value", Integer, nullable=False),
)

webhook_events = Table(
    "dispatch_webhook_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("next_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("delivered_at", DateTime),
    Column("failed", Boolean, nullable=False),
    Column("last_error", Text),
)
