"""满意度回访: a call-back after a case was closed; the rating goes to the case in the dispatch backend."""

from __future__ import annotations

from campaigns.kinds import CampaignKind

KIND = CampaignKind(
    name="satisfaction_callback",
    label="办结满意度回访",
    opening="您好，这里是政务服务热线回访中心，想了解您对近期反映问题办理结果的评价。",
    closing="感谢您的评价，我们会继续改进工作，再见。",
    machine_message="您好，这里是政务服务热线回访中心，想了解您对问题办理结果的评价，稍后会再次来电，请留意接听。",
    script=(
        {"id": "satisfaction", "label": "满意度", "type": "choice",
         "keys": {"1": "satisfied", "2": "basic", "3": "unsatisfied"},
         "choices": {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"},
         "text": "对办理结果满意请按1，基本满意请按2，不满意请按3。"},
        {"id": "resolved", "label": "问题已解决", "type": "yes_no", "keys": {"1": "yes", "2": "no"},
         "text": "您反映的问题解决了吗？解决了请按1，没有解决请按2。"},
        {"id": "comment", "label": "意见建议", "type": "free", "optional": True,
         "text": "还有什么意见或建议，请在提示音后说出，说完请按井号键；没有请直接按井号键。"},
    ),
    abnormal=(
        {"question": "satisfaction", "op": "==", "value": "unsatisfied"},
        {"question": "resolved", "op": "==", "value": "no"},
    ),
    accepts_empty=True,  # targets are added as cases close
    once=True,
    alert_service="other",  # 回访不满意 / 未解决: back to the command centre, not to public health
)
