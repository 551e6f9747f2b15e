"""``python -m campaigns`` as an operator uses it, in a real subprocess with its own data dir and store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.campaigns.conftest import EXAMPLE, ROOT, example


@pytest.fixture
def cli(tmp_path: Path):
    env = {**os.environ, "GOVBOT__PATHS__DATA_DIR": str(tmp_path),
           "GOVBOT__CAMPAIGNS__DB_URL": f"sqlite:///{tmp_path}/campaigns.sqlite3"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "campaigns", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
    return run


def test_create_import_start_and_list(cli, tmp_path: Path) -> None:
    created = cli("create", str(EXAMPLE))
    assert created.returncode == 0 and "已创建活动 1" in created.stdout
    names = tmp_path / "names.csv"
    names.write_bytes("姓名,电话,地址\n张三,13800138000,幸福路1号\n李四,12,幸福路2号\n".encode("gbk"))
    refused = cli("import", "1", str(names))
    assert refused.returncode == 1 and "第 3 行 电话" in refused.stderr and "--valid-only" in refused.stderr
    imported = cli("import", "东湖社区居家健康监测", str(names), "--valid-only")
    assert imported.returncode == 0 and "已导入 1 / 2 行" in imported.stdout
    assert cli("start", "1").returncode == 0
    twice = cli("start", "1")
    assert twice.returncode == 1 and "不能启动" in twice.stderr
    listed = cli("list")
    assert "东湖社区居家健康监测" in listed.stdout and "进行中" in listed.stdout and "1 人" in listed.stdout
    shown = cli("show", "1")
    assert shown.returncode == 0 and "09:00、16:00" in shown.stdout
    exported = cli("followups", "1", "--csv")
    assert exported.returncode == 0 and exported.stdout.startswith("编号,日期,时段,姓名,电话")


def test_dnc_commands(cli) -> None:
    assert "已加入" in cli("dnc", "add", "health_check", "138 0013 8000").stdout
    assert "138 0013 8000" in cli("dnc", "list", "health_check").stdout
    assert cli("dnc", "remove", "health_check", "13800138000").returncode == 0
    missing = cli("dnc", "remove", "health_check", "13800138000")
    assert missing.returncode == 1 and "没有号码" in missing.stderr
    bad = cli("dnc", "add", "health_check", "12")
    assert bad.returncode == 1 and bad.stderr.startswith("错误：号码无效")


@pytest.mark.parametrize(("changes", "message"), [
    ({"max_channels": 999}, "max_channels"),
    ({"schedule": {"times": ["07:00"], "window": ["08:30", "20:00"]}}, "不在呼叫时段"),
    ({"schedule": {"times": ["09:00"], "window": ["20:00", "08:30"]}}, "开始须早于结束"),
    ({"kind": "sales"}, "活动类型"),
])
def test_a_bad_campaign_file_names_the_field(cli, tmp_path: Path, changes: dict, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(example(**changes), allow_unicode=True), encoding="utf-8")
    result = cli("create", str(path))
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_unknown_campaign_malformed_file_and_bad_usage(cli, tmp_path: Path) -> None:
    unknown = cli("show", "99")
    assert unknown.returncode == 1 and "没有活动 99" in unknown.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert "格式错误" in cli("create", str(broken)).stderr
    usage = cli("frobnicate")
    assert usage.returncode == 2 and "参数错误" in usage.stderr


def test_edit_changes_the_fields_in_the_file(cli, tmp_path: Path) -> None:
    assert cli("create", str(EXAMPLE)).returncode == 0
    changes = tmp_path / "changes.yaml"
    changes.write_text("schedule:\n  times: ['10:00']\nretry:\n  attempts: 2\nmax_channels: 4\n", encoding="utf-8")
    edited = cli("edit", "东湖社区居家健康监测", "--spec", str(changes))
    assert edited.returncode == 0, edited.stderr
    assert "已修改活动 1" in edited.stdout and "schedule、retry、max_channels" in edited.stdout
    shown = cli("show", "1")
    assert "每日时间 10:00，呼叫时段 08:30–20:00" in shown.stdout and "并发 4 路" in shown.stdout
    assert "每时段最多拨 2 次" in shown.stdout and "实时：已拨打（次） 0" in shown.stdout


@pytest.mark.parametrize(("text", "message"), [
    ("kind: notice\n", "kind: 活动类型不能修改"),
    ("schedule:\n  times: ['07:00']\n", "schedule.times[0]"),
    ("colour: red\n", "colour: 不能修改的字段"),
    ("", "body: 请给出要修改的字段"),
])
def test_a_bad_edit_names_the_field(cli, tmp_path: Path, text: str, message: str) -> None:
    assert cli("create", str(EXAMPLE)).returncode == 0
    changes = tmp_path / "changes.yaml"
    changes.write_text(text, encoding="utf-8")
    result = cli("edit", "1", "--spec", str(changes))
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_edit_of_a_stopped_or_unknown_campaign_and_bad_usage(cli, tmp_path: Path) -> None:
    changes = tmp_path / "changes.yaml"
    changes.write_text("max_channels: 4\n", encoding="utf-8")
    unknown = cli("edit", "99", "--spec", str(changes))
    assert unknown.returncode == 1 and "没有活动 99" in unknown.stderr
    assert cli("create", str(EXAMPLE)).returncode == 0
    assert cli("stop", "1").returncode == 0
    stopped = cli("edit", "1", "--spec", str(changes))
    assert stopped.returncode == 1 and "已结束，不能修改" in stopped.stderr
    no_spec = cli("edit", "1")
    assert no_spec.returncode == 2 and "--spec" in no_spec.stderr
    missing = cli("edit", "1", "--spec", str(tmp_path / "nothing.yaml"))
    assert missing.returncode == 1 and "无法读取活动文件" in missing.stderr
