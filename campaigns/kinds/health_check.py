"""居家健康监测: daily calls to residents under home observation (temperature, symptoms, needs)."""

from __future__ import annotations

from campaigns.kinds import CampaignKind

FEVER_THRESHOLD_C = 37.3  # at or above: abnormal (the national home-observation guidance)
BODY_TEMPERATURE_RANGE_C = (34.0, 43.0)  # anything outside is a mistyped or misheard number: asked again

KIND = CampaignKind(
    name="health_check",
    label="居家健康监测",
    opening="您好，这里是社区居家健康监测服务，占用您一分钟，做今天的健康询问。",
    closing="感谢您的配合，祝您身体健康，再见。",
    machine_message="您好，这里是社区居家健康监测服务，今天的健康询问稍后会再次来电，请留意接听。",
    script=(
        {"id": "temperature", "label": "体温", "type": "number", "unit": "度",
         "min": BODY_TEMPERATURE_RANGE_C[0], "max": BODY_TEMPERATURE_RANGE_C[1],
         "text": "请输入您今天的体温，例如三十六点五度，请按三、六、星号、五，再按井号键；也可以直接说出体温。"},
        {"id": "cough", "label": "咳嗽", "type": "yes_no", "keys": {"1": "yes", "2": "no"},
         "text": "您今天有没有咳嗽？有请按1，没有请按2。"},
        {"id": "other_symptoms", "label": "其他不适", "type": "yes_no", "keys": {"1": "yes", "2": "no"},
         "text": "有没有乏力、咽痛、腹泻等其他不适？有请按1，没有请按2。"},
        {"id": "needs", "label": "生活需要", "type": "choice",
         "keys": {"1": "none", "2": "medicine", "3": "doctor", "4": "other"},
         "choices": {"none": "没有需要", "medicine": "需要买药", "doctor": "需要就医", "other": "其他需要"},
         "text": "生活上需要社区帮忙吗？不需要请按1，需要买药请按2，需要就医请按3，其他需要请按4。"},
    ),
    abnormal=(
        {"question": "temperature", "op": ">=", "value": FEVER_THRESHOLD_C},
        {"question": "cough", "op": "==", "value": "yes"},
        {"question": "other_symptoms", "op": "==", "value": "yes"},
        {"question": "needs", "op": "in", "value": ["medicine", "doctor", "other"]},
    ),
    required_target_fields=("name", "phone", "address"),  # 人工补漏 means a visit: staff need the address
)
