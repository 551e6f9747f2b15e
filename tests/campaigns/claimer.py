"""A dialler stand-in for the concurrency tests: ``python -m tests.campaigns.claimer DB_URL NAME NOW``.

It claims a few attempts at a time, marks them dialled and answered, until a claim comes back empty while it
holds nothing, then prints the slot ids it was handed (one JSON list). Two of these against one store show
that no slot is handed to both.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from campaigns.config import CampaignsConfig
from campaigns.store import Store

BATCH = 3  # small, so the two processes interleave many claims


def run(db_url: str, name: str, now: datetime) -> list[int]:
    store = Store(CampaignsConfig.load(), db_url)
    handed: list[int] = []
    try:
        while True:
            claims = store.claim_due(now, name, BATCH)
            if not claims:
                return handed
            for claim in claims:
                handed.append(claim.slot_id)
                if not store.mark_dialing(claim.attempt_id, name, now):
                    raise SystemExit(f"lease lost for attempt {claim.attempt_id}")
                store.record_outcome(claim.attempt_id, "answered", {}, now, dialler_id=name)
    finally:
        store.close()


def parse_output(out: str) -> list[int]:
    return [int(slot) for slot in json.loads(out.strip().splitlines()[-1])]


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3]))))
