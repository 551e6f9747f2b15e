"""A question's expected answers as the Whisper recogniser's hotwords (campaign calls, bench/answers.py)."""

from __future__ import annotations


def test_phrases_become_the_prompt_of_that_recogniser_only(whisper_engine) -> None:
    tokenizer = whisper_engine.tokenizer
    prompt = whisper_engine.answer_prompt(("是的", "不是"))
    assert prompt[0] == tokenizer.sot_prev
    assert tokenizer.decode(list(prompt[1:prompt.index(tokenizer.sot)])).strip() == "是的，不是"
    assert whisper_engine.answer_prompt(("是的", "不是")) is prompt  # cached: the same questions come again
    assert whisper_engine.recognizer(8000, ["是的", "不是"]).prompt == prompt
    assert whisper_engine.recognizer(8000).prompt is None  # the usual prompts (prompt_for) otherwise
