"""通知: a recorded announcement (the opening) and a confirmation that the resident heard it."""

from __future__ import annotations

from campaigns.kinds import CampaignKind

KIND = CampaignKind(
    name="notice",
    label="语音通知",
    opening="",
    closing="通知完毕，感谢您的收听，再见。",
    machine_message="您好，这里是社区语音通知，有一则通知稍后会再次来电告知您，请留意接听。",
    script=(
        {"id": "heard", "label": "已听清", "type": "yes_no", "keys": {"1": "yes", "2": "no"},
         "text": "您听清楚了吗？听清楚了请按1，没有听清请按2。"},
    ),
    opening_required=True,
    once=True,
)
