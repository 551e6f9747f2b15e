from dispatch.attributes import NOT_SPECIFIED, fill_required

NOISE = {"attributes": [
    {"code": "noise_source", "datatype": "singlevaluelist", "required": True, "variable": True,
     "values": [{"key": "construction", "name": "建筑施工"}, {"key": "business", "name": "商业经营"},
                {"key": "living", "name": "社会生活（装修、广场舞等）"}]},
    {"code": "time_period", "datatype": "string", "required": False},
]}
INJURED = {"attributes": [{"code": "injured", "datatype": "singlevaluelist", "required": True, "values": [
    {"key": "yes", "name": "有"}, {"key": "no", "name": "无"}, {"key": "unknown", "name": "不清楚"}]}]}


def test_the_best_matching_value_is_chosen() -> None:
    assert fill_required(NOISE, "隔壁工地晚上还在施工", {}) == {"noise_source": "construction"}
    assert fill_required(NOISE, "楼上装修太吵", {}) == {"noise_source": "living"}


def test_no_match_prefers_an_unknown_value_and_given_answers_stay() -> None:
    assert fill_required(INJURED, "楼道着火了", {}) == {"injured": "unknown"}
    assert fill_required(NOISE, "太吵了", {"noise_source": "business"}) == {"noise_source": "business"}


def test_free_text_and_optional_attributes() -> None:
    text_required = {"attributes": [{"code": "note", "datatype": "string", "required": True}]}
    assert fill_required(text_required, "x", None) == {"note": NOT_SPECIFIED}
    assert fill_required({"attributes": NOISE["attributes"][1:]}, "x", {}) == {}
    assert fill_required(None, "x", {"a": 1}) == {"a": 1}
