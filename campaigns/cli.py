"""``python -m campaigns``: the operator's command line for campaigns, target lists, DNC and follow-ups.

Why a CLI next to the (later) HTTP API: a community's operator on the server itself, and the tests, need the
same operations without a running gateway. Every command reads and writes the store named by
``[campaigns] db_url``; every refusal is one Chinese sentence on stderr and a non-zero exit status (1 for a
refused operation, 2 for a malformed command line), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, TextIO

import yaml

from campaigns import export, kinds
from campaigns.config import CampaignsConfig
from campaigns.model import spec_from_dict
from campaigns.phones import PhoneError, display
from campaigns.states import CAMPAIGN_ACTIONS, CAMPAIGN_STATE_LABELS, SLOT_LABELS, TransitionError
from campaigns.store import DuplicateName, EditConflict, EditRefused, EmptyCampaign, NotFound, OutcomeError, Store
from campaigns.store.report import LIVE_COUNT_LABELS
from campaigns.targets import ImportRefused, TargetFileError, import_file
from campaigns.validation import EDITABLE, SpecError, parse_spec

REFUSED, BAD_USAGE = 1, 2
OPERATOR_ERRORS = (SpecError, TargetFileError, NotFound, TransitionError, DuplicateName, EmptyCampaign, PhoneError,
                   OutcomeError, EditRefused, EditConflict, ValueError)


class ChineseParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(BAD_USAGE, f"参数错误：{message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ChineseParser(prog="python -m campaigns", description="外呼活动：创建、导入名单、免打扰名单、人工补漏")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ChineseParser)
    create = commands.add_parser("create", help="从 YAML/JSON 文件创建活动（草稿）")
    create.add_argument("file", type=Path)
    edit = commands.add_parser("edit", help="修改活动（文件中只写要改的字段；类型不能改，已结束的活动不能改）")
    edit.add_argument("campaign")
    edit.add_argument("--spec", type=Path, required=True, metavar="FILE.yaml",
                      help=f"YAML/JSON：可改 {'、'.join(EDITABLE)}（schedule、retry 可只写其中几项）")
    imported = commands.add_parser("import", help="导入呼叫名单（CSV 或 XLSX）")
    imported.add_argument("campaign")
    imported.add_argument("file", type=Path)
    imported.add_argument("--valid-only", action="store_true", help="有错误时只导入有效的行")
    commands.add_parser("list", help="列出所有活动")
    show = commands.add_parser("show", help="活动详情与进度")
    show.add_argument("campaign")
    for action in CAMPAIGN_ACTIONS:
        commands.add_parser(action, help=f"{action} 活动").add_argument("campaign")
    dnc = commands.add_parser("dnc", help="免打扰名单（按活动类型）")
    dnc_commands = dnc.add_subparsers(dest="dnc_command", required=True, parser_class=ChineseParser)
    for name in ("add", "remove"):
        item = dnc_commands.add_parser(name)
        item.add_argument("kind", choices=sorted(kinds.kinds()))
        item.add_argument("phone")
        if name == "add":
            item.add_argument("--reason", default="工作人员添加")
    dnc_commands.add_parser("list").add_argument("kind", nargs="?", choices=sorted(kinds.kinds()))
    followups = commands.add_parser("followups", help="人工补漏名单（未接通、异常）")
    followups.add_argument("campaign")
    followups.add_argument("--day", type=date.fromisoformat, help="只看某一天（YYYY-MM-DD）")
    followups.add_argument("--all", action="store_true", help="包括已处理的")
    followups.add_argument("--csv", action="store_true", help="以 CSV 输出（Excel 可直接打开）")
    report = commands.add_parser("report", help="每日报表：接通、正常、异常、未接通、免打扰、未拨打（按社区、网格）")
    report.add_argument("campaign")
    report.add_argument("--day", type=date.fromisoformat, help="哪一天（YYYY-MM-DD，默认今天）")
    report.add_argument("--csv", action="store_true", help="以 CSV 输出（Excel 可直接打开）")
    report.add_argument("--json", action="store_true", help="以 JSON 输出")
    done = commands.add_parser("followup-done", help="标记一条补漏记录已处理")
    done.add_argument("slot_id", type=int)
    done.add_argument("--by", required=True, help="处理人")
    done.add_argument("--note", default="")
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    store = Store(CampaignsConfig.load())
    try:
        return COMMANDS[args.command](store, args, out, datetime.now(timezone.utc))
    except ImportRefused as exc:
        for error in exc.report.errors:
            print(str(error), file=sys.stderr)
        print(f"错误：{exc}", file=sys.stderr)
        return REFUSED
    except OPERATOR_ERRORS as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return REFUSED
    finally:
        store.close()


def campaign_ref(text: str) -> int | str:
    """A campaign named on the command line: its id when all digits, else its name."""
    return int(text) if text.isdigit() else text


def _create(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    row = store.create_campaign(parse_spec(_load_file(args.file), store.config), now)
    print(f"已创建活动 {row['id']}：{row['name']}（{CAMPAIGN_STATE_LABELS[row['state']]}）", file=out)
    return 0


def _load_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"无法读取活动文件 {path}：{exc}") from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"活动文件 {path} 格式错误：{str(exc).splitlines()[0]}") from None


def _edit(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    """Why no version check here: the file holds only the fields to change, applied under the campaign's lock,
    so an edit made meanwhile by someone else is kept unless this one changes the same field."""
    before = store.get_campaign(campaign_ref(args.campaign))
    row = store.update_campaign(before["id"], _load_file(args.spec), now)
    changed = [key for key in EDITABLE if before["spec"].get(key) != row["spec"].get(key)]
    print(f"已修改活动 {row['id']}：{row['name']}（{'、'.join(changed) if changed else '没有变化'}）", file=out)
    return 0


def _import(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    report = import_file(store, campaign_ref(args.campaign), args.file, now, valid_only=args.valid_only)
    for error in report.errors:
        print(str(error), file=sys.stderr)
    skipped = f"，跳过 {report.error_count} 处错误" if report.error_count else ""
    print(f"已导入 {report.imported} / {report.rows} 行{skipped}", file=out)
    if report.ignored_columns:
        print(f"未使用的列：{'、'.join(report.ignored_columns)}", file=out)
    return 0


def _list(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    for row in store.list_campaigns():
        label = kinds.get(row["kind"]).label if kinds.get(row["kind"]) else row["kind"]
        print(f"{row['id']}\t{row['name']}\t{label}\t{CAMPAIGN_STATE_LABELS[row['state']]}\t{row['targets']} 人",
              file=out)
    return 0


def _show(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    row = store.get_campaign(campaign_ref(args.campaign))
    spec = spec_from_dict(row["spec"])
    progress = store.progress(row["id"])
    print(f"活动 {row['id']}：{row['name']}（{CAMPAIGN_STATE_LABELS[row['state']]}）", file=out)
    print(f"每日时间 {'、'.join(spec.schedule.times)}，呼叫时段 {'–'.join(spec.schedule.window)}"
          f"（{spec.schedule.timezone}），并发 {spec.max_channels} 路，每时段最多拨 {spec.retry.attempts} 次", file=out)
    print(f"呼叫对象 {len(store.existing_phones(row['id']))} 人；进度："
          + ("、".join(f"{SLOT_LABELS.get(k, k)} {v}" for k, v in sorted(progress.items())) or "尚未开始"), file=out)
    counts = store.live_counts(row["id"], now)
    print("实时：" + "、".join(f"{label} {counts[key]}" for key, label in LIVE_COUNT_LABELS.items()), file=out)
    print(json.dumps(row["spec"], ensure_ascii=False, indent=2), file=out)
    return 0


def _action(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    row = store.set_state(campaign_ref(args.campaign), args.command, now)
    print(f"活动 {row['id']}：{row['name']} 现为{CAMPAIGN_STATE_LABELS[row['state']]}", file=out)
    return 0


def _dnc(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    if args.dnc_command == "add":
        added = store.add_dnc(args.kind, args.phone, now, reason=args.reason, added_by="cli")
        print("已加入免打扰名单" if added else "该号码已在免打扰名单中", file=out)
    elif args.dnc_command == "remove":
        if not store.remove_dnc(args.kind, args.phone):
            raise NotFound(f"免打扰名单（{args.kind}）中没有号码 {args.phone}")
        print("已移出免打扰名单", file=out)
    else:
        for item in store.list_dnc(args.kind):
            print(f"{item['kind']}\t{display(item['phone'])}\t{item['added_at']:%Y-%m-%d %H:%M}\t{item['reason']}",
                  file=out)
    return 0


def _followups(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    found = store.followups(campaign_ref(args.campaign), now, day=args.day, include_done=args.all)
    if args.csv:
        out.write(export.followups_csv(found, bom=False))
        return 0
    items = [export.for_people(item) for item in found]
    for item in items:
        print(f"{item['slot_id']}\t{item['day']} {item['time']}\t{item['name']}\t{item['phone']}\t{item['address']}"
              f"\t{item['category']}\t{item['reason']}", file=out)
    print(f"共 {len(items)} 条待补漏" if not args.all else f"共 {len(items)} 条", file=out)
    return 0


def _followup_done(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    store.mark_followup_done(args.slot_id, args.by, now, note=args.note)
    print(f"补漏记录 {args.slot_id} 已标记为处理完毕", file=out)
    return 0


def _report(store: Store, args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    found = store.daily_report(campaign_ref(args.campaign), now, day=args.day)
    if args.csv:
        out.write(export.report_csv(found, bom=False))
    elif args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2), file=out)
    else:
        print(f"活动 {found['campaign']['id']}：{found['campaign']['name']}　{found['day']}（{found['timezone']}）",
              file=out)
        for row in export.report_rows(found):
            print("\t".join(str(cell) for cell in row[1:]), file=out)
    return 0


COMMANDS = {"create": _create, "edit": _edit, "import": _import, "list": _list, "show": _show, "dnc": _dnc,
            "followups": _followups, "followup-done": _followup_done, "report": _report,
            **dict.fromkeys(CAMPAIGN_ACTIONS, _action)}
