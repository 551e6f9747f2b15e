"""Per-character features and BIO tags for Chinese entity extraction (used by char_crf.py).

Why characters and not Jieba tokens: a place name the training data never saw (柳岸花园, 星河湾7栋)
is split by Jieba into pieces whose boundaries rarely match the annotation, and a token-level tagger
(DIET, Rasa's CRFEntityExtractor) can only label whole tokens; per character the tagger can start and
end an entity anywhere, and learns from the characters around it (住/在 before, 的/门口 after).
Jieba still contributes what it knows: the word a character sits in, its position in that word and
the word's part of speech (ns place, nr person name — unknown proper names mostly come back as one of
these). PLACE_SUFFIXES is the general vocabulary of Chinese addresses (路, 小区, 号楼 …): the training
data has few locations, and without it the tagger only knows the suffixes those few happen to use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import jieba.posseg

Features = dict[str, Any]
OUTSIDE = "O"
CONTEXT = 2          # characters either side that are features of a character
SUFFIX_CONTEXT = 3   # how far ahead a place suffix is seen: 星河湾 + 7栋 needs the 栋 three characters on
CHINESE_NUMERALS = frozenset("零〇一二两三四五六七八九十百千幺")
PLACE_SUFFIXES = (
    "省 市 区 县 镇 乡 村 屯 庄 街道 街道办 社区 居委会 街 大街 路 大道 马路 巷 胡同 弄 里 道 桥 大桥 立交桥 隧道 "
    "小区 花园 家园 新村 苑 园 府 城 湾 庭 轩 居 公寓 大厦 中心 广场 公园 市场 菜市场 商场 超市 医院 学校 小学 中学 "
    "幼儿园 车站 公交站 地铁站 火车站 加油站 停车场 号楼 栋 幢 座 单元 号 楼 层 室 期 门 东门 西门 南门 北门 后门 门口 "
    "路口 交叉口 十字路口"
).split()


def alternation(words: Iterable[str]) -> re.Pattern[str]:
    """One regex for a word list, longest first so 菜市场 wins over 市场."""
    return re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True) if w))


def char_class(ch: str) -> str:
    if ch.isdigit():
        return "digit"
    if ch in CHINESE_NUMERALS:
        return "numeral"
    if ch.isascii() and ch.isalpha():
        return "latin"
    if ch.isspace():
        return "space"
    return "han" if "\u4e00" <= ch <= "\u9fff" else "punct"


def _marks(text: str, patterns: Sequence[tuple[str, re.Pattern[str]]]) -> list[list[str]]:
    """For each character, which patterns cover it and whether it begins (B) or continues (I) the match."""
    marks: list[list[str]] = [[] for _ in text]
    for name, pattern in patterns:
        for match in pattern.finditer(text):
            for i in range(match.start(), match.end()):
                marks[i].append(f"{name}:{'B' if i == match.start() else 'I'}")
    return marks


def _words(text: str) -> tuple[list[str], list[str], list[str]]:
    """The Jieba word around each character, the character's place in it (B/M/E/S) and the word's POS."""
    words, places, tags = [""] * len(text), [""] * len(text), [""] * len(text)
    start = 0
    for pair in jieba.posseg.cut(text):
        word = pair.word
        for k in range(len(word)):
            if start + k < len(text):
                words[start + k], tags[start + k] = word, pair.flag
                places[start + k] = "S" if len(word) == 1 else "B" if k == 0 else "E" if k == len(word) - 1 else "M"
        start += len(word)
    return words, places, tags


def char_features(text: str, patterns: Sequence[tuple[str, re.Pattern[str]]],
                  suffixes: re.Pattern[str]) -> list[Features]:
    """crfsuite features for each character of ``text`` (string values are one-hot, floats weights)."""
    low = text.lower()
    n = len(low)
    words, places, tags = _words(low)
    marks = _marks(low, patterns)
    suffix = [""] * n
    for match in suffixes.finditer(low):
        for i in range(match.start(), match.end()):
            suffix[i] = "E" if i == match.end() - 1 else "I"

    def at(values: Sequence[str], i: int) -> str:
        return values[i] if 0 <= i < n else ("<s>" if i < 0 else "</s>")

    classes = [char_class(ch) for ch in low]
    chars = list(low)
    out = []
    for i in range(n):
        f: Features = {"bias": 1.0, "word": words[i], "place": places[i],
                       "word_len": str(min(len(words[i]), 4)), "pos": tags[i], "pos_place": tags[i] + places[i],
                       "pos-1": at(tags, i - 1), "pos+1": at(tags, i + 1),
                       "classes": at(classes, i - 1) + at(classes, i) + at(classes, i + 1),
                       "bigram-1": at(chars, i - 1) + chars[i], "bigram+1": chars[i] + at(chars, i + 1),
                       "trigram": at(chars, i - 1) + chars[i] + at(chars, i + 1)}
        for d in range(-CONTEXT, CONTEXT + 1):
            f[f"char{d:+d}"] = at(chars, i + d)
        for d in (-1, 0, 1):
            f[f"class{d:+d}"] = at(classes, i + d)
        for d in range(-1, SUFFIX_CONTEXT + 1):
            f[f"suffix{d:+d}"] = at(suffix, i + d)
        for mark in marks[i]:
            f["pattern:" + mark] = 1.0
        out.append(f)
    return out


def bio_tags(length: int, entities: Iterable[dict[str, Any]]) -> list[str]:
    tags = [OUTSIDE] * length
    for entity in entities:
        start, end = int(entity["start"]), min(int(entity["end"]), length)
        for i in range(start, end):
            tags[i] = ("B-" if i == start else "I-") + entity["entity"]
    return tags


def entities_from_tags(text: str, tags: Sequence[str], marginals: Sequence[dict[str, float]]) -> list[dict[str, Any]]:
    """Entities from BIO tags; an I- without its B- starts an entity (the tagger may miss the first
    character). Confidence is the mean marginal probability of the span's tags, like DIET's per-entity
    confidence, so the actions' confidence floor (actions.location_min_confidence) keeps its meaning."""
    found, start, label = [], None, None
    for i, tag in enumerate([*tags, OUTSIDE]):
        if start is not None and (tag == OUTSIDE or tag.startswith("B-") or tag[2:] != label):
            while start < i and text[start].isspace():
                start += 1
            end = i
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                confidence = sum(marginals[k][tags[k]] for k in range(start, end)) / (end - start)
                found.append({"entity": label, "start": start, "end": end, "value": text[start:end],
                              "confidence_entity": confidence})
            start = None
        if tag != OUTSIDE and start is None:
            start, label = i, tag[2:]
    return found
