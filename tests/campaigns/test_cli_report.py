"""``python -m campaigns report`` in a real subprocess, on a store a dialler worked (the same SQLite file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from campaigns.config import CampaignsConfig
from campaigns.store import Store
from tests.campaigns.conftest import NOW, ROOT, running_campaign


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOVBOT__PATHS__DATA_DIR": str(tmp_path),
           "GOVBOT__CAMPAIGNS__DB_URL": f"sqlite:///{tmp_path}/campaigns.sqlite3"}
    return subprocess.run([sys.executable, "-m", "campaigns", "report", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_report_as_a_table_as_csv_and_as_json(tmp_path: Path) -> None:
    config = CampaignsConfig.load(None)
    store = Store(config, f"sqlite:///{tmp_path}/campaigns.sqlite3")
    campaign = running_campaign(store, config, 3)
    [claim, *_] = store.claim_due(NOW, "d1", 3)
    store.mark_dialing(claim.attempt_id, "d1", NOW)
    store.record_outcome(claim.attempt_id, "dnc", {}, NOW, dialler_id="d1")
    store.close()

    shown = run(tmp_path, str(campaign), "--day", "2026-03-02")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "2026-03-02" in lines[0] and lines[1].startswith("社区\t网格\t时段数")
    assert lines[-1].startswith("合计\t\t6\t3\t1\t")  # 3 residents × 2 daily times; one opted out on the call
    exported = run(tmp_path, str(campaign), "--day", "2026-03-02", "--csv")
    assert exported.returncode == 0 and exported.stdout.startswith("日期,社区,网格,时段数")
    data = json.loads(run(tmp_path, str(campaign), "--day", "2026-03-02", "--json").stdout)
    # the day is over (the CLI's clock is today): the 16:00 call of the resident who opted out is closed as DNC;
    # the two other claims were never dialled (their leases ran out), so neither resident was called that day
    assert {k: data["totals"][k] for k in ("reached", "opted_out", "not_called", "in_progress")} == {
        "reached": 1, "opted_out": 2, "not_called": 4, "in_progress": 0}


def test_bad_report_arguments(tmp_path: Path) -> None:
    bad_day = run(tmp_path, "1", "--day", "2 March")
    assert bad_day.returncode == 2 and "--day" in bad_day.stderr
    missing = run(tmp_path, "9")
    assert missing.returncode == 1 and "没有活动 9" in missing.stderr
