"""The curator's and dispatcher's side, end to end through the real stack:
an edited FAQ answer reaches the next chat; a closed case reaches the resident, who rates it;
a ticket filed while the dispatch backend is down arrives once it is back."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.support import wait_until

pytestmark = pytest.mark.e2e


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


PLACE = "人民路和解放路路口东北角"


def file_complaint(stack, sender: str) -> str:
    """Answer whatever the complaint form asks, as a resident would; return the final reply."""
    reply = texts(stack.chat(sender, "有个井盖丢了，好几天了也没人管"))
    for _ in range(4):
        if "确认提交" in reply:
            return texts(stack.chat(sender, "确认提交"))
        answer = PLACE if ("位置" in reply or "哪里" in reply) else "13912345678" if "电话" in reply else None
        assert answer, reply
        reply = texts(stack.chat(sender, answer))
    raise AssertionError(reply)


def test_an_edited_answer_reaches_the_next_chat_without_retraining(stack) -> None:
    staff = stack.staff()
    entry = httpx.get(f"{stack.gateway}/api/kb/entries/sb-001", headers=staff, timeout=10).json()
    new_answer = f"（测试更新 {uuid.uuid4().hex[:6]}）请到街道便民服务中心 2 号窗口补办社保卡。"
    reply = httpx.put(f"{stack.gateway}/api/kb/entries/sb-001", headers=staff, timeout=10,
                      json={"answer": new_answer, "version": entry["version"], "author": "e2e"})
    assert reply.status_code == 200, reply.text
    assert new_answer in texts(stack.chat(f"kb-{uuid.uuid4().hex[:6]}", "社保卡丢了怎么补办"))


def test_a_closed_case_is_announced_and_rated(stack) -> None:
    sender = f"life-{uuid.uuid4().hex[:6]}"
    ticket = re.search(r"GB\d{8}-\d{4}", file_complaint(stack, sender)).group(0)
    staff = stack.staff()
    for action, body in [("sign", {}), ("assign", {"department": "roads"}),
                         ("close", {"result": "井盖已补装，现场已恢复通行"})]:
        done = httpx.post(f"{stack.dispatch}/api/dispatch/tickets/{ticket}/{action}", json=body,
                          headers=staff, timeout=10)
        assert done.status_code == 200, done.text
    closed = wait_until(lambda: [n for n in stack.notifications(sender) if "办结" in n["text"]], 30, 0.5)
    assert ticket in closed[0]["text"] and "评价" in closed[0]["text"]
    assert "已办结" in texts(stack.chat(sender, f"查询工单{ticket}"))
    assert "感谢您的评价（5分）" in texts(stack.chat(sender, "非常满意，给五分"))
    case = httpx.get(f"{stack.dispatch}/api/dispatch/tickets/{ticket}", headers=staff, timeout=10).json()
    assert [rating["score"] for rating in case["ratings"]] == [5]


def test_a_ticket_filed_while_dispatch_is_down_arrives_later(stack) -> None:
    """Runs last in this module: it stops and restarts the dispatch backend."""
    supervisor = stack.supervisor
    proc = supervisor.procs["dispatch"]
    supervisor.stop_one("dispatch")
    assert proc.poll() is not None
    try:
        sender = f"down-{uuid.uuid4().hex[:6]}"
        reply = file_complaint(stack, sender)
        provisional = re.search(r"TMP-\d{8}-[0-9A-F]+", reply)
        assert provisional, reply
    finally:
        supervisor.restart("dispatch")
    status = wait_until(lambda: (lambda t: t if re.search(r"GB\d{8}-\d{4}", t) else None)(
        texts(stack.chat(sender, f"查询工单 {provisional.group(0)}"))), timeout_s=90, step_s=3)
    ticket = re.search(r"GB\d{8}-\d{4}", status).group(0)
    cases = httpx.get(f"{stack.dispatch}/open311/v2/requests.json", timeout=10,
                      params={"service_request_id": ticket}).json()
    assert len(cases) == 1 and cases[0]["address"] == PLACE
