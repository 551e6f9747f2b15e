"""Speech recognition engines, one module each, chosen by name: ``speech.asr.create("auto")``.

Why a registry with lazy imports: an engine's package and model are heavy, so only the chosen one
is imported and loaded, once per process (a phone server shares it between all calls: every call
gets its own ``engine.recognizer(...)``). ``auto`` takes the first engine whose model is installed,
so a machine without internet (no Mandarin Vosk model) still runs with Whisper.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

from common import settings
from speech import models
from speech.base import AsrEngine

# name → (module, class, "is its model installed?"); "auto" tries them in this order.
ENGINES: dict[str, tuple[str, str, Callable[[], bool]]] = {
    "vosk": ("speech.asr.vosk", "VoskEngine", models.vosk_ready),
    "whisper": ("speech.asr.whisper", "WhisperEngine", models.whisper_ready),
}
_loaded: dict[str, AsrEngine] = {}
_lock = threading.Lock()


class AsrUnavailable(RuntimeError):
    """No engine can run; the message names `make models`."""


def available() -> list[str]:
    """Engines whose model is installed, in ``auto`` order."""
    return [name for name, (_module, _cls, ready) in ENGINES.items() if ready()]


def resolve(name: str | None = None) -> str:
    """The engine ``name`` (default: ``[speech] asr_engine``) stands for, checked to have a model."""
    name = (name or settings.section("speech")["asr_engine"]).lower()
    if name == "auto":
        ready = available()
        if not ready:
            raise AsrUnavailable("没有可用的语音识别模型（vosk、whisper 都未安装）：请运行 `make models`")
        return ready[0]
    if name not in ENGINES:
        raise AsrUnavailable(f"未知的语音识别引擎 {name!r}；可选 auto、{'、'.join(ENGINES)}")
    if not ENGINES[name][2]():
        raise AsrUnavailable(f"语音识别引擎 {name} 没有模型：请运行 `make models`"
                             "（`python -m speech.models status` 查看）")
    return name


def create(name: str | None = None) -> AsrEngine:
    """The process-wide engine for ``name`` ("auto", "vosk", "whisper"; default from settings), loaded once."""
    resolved = resolve(name)
    with _lock:
        if resolved not in _loaded:
            module, cls, _ready = ENGINES[resolved]
            engine_cls = getattr(importlib.import_module(module), cls)
            _loaded[resolved] = engine_cls.from_settings(settings.section("speech"))
        return _loaded[resolved]
