"""`python -m speech transcribe FILE [--engine auto|vosk|whisper] [--json] [--raw]` for staff and scripts;
`python -m speech prompts [--render] [--json]` lists the fixed prompts, their recordings and cache (``speech.prompts``).

Prints the normalised transcript (``--raw``: as the engine wrote it); with ``--json`` one object
``{"text", "engine", "seconds"}`` where seconds is the recording's duration. A file that cannot be
used exits with status 2 and a message saying why; no usable engine exits with status 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import settings
from speech import asr, prompts
from speech.audio import AudioError, Limits, decode, validate
from speech.normalize import normalize

ASR_RATE = 16_000  # both engines accept it; vosk and whisper resample nothing at this rate


def transcribe_file(path: Path, engine_name: str | None = None, raw: bool = False) -> dict[str, object]:
    conf = settings.section("speech")
    audio = decode(path.read_bytes(), ASR_RATE)
    validate(audio, Limits.from_settings(conf))
    engine = asr.create(engine_name)
    text = engine.transcribe(audio)
    return {"text": text if raw else normalize(text), "engine": engine.name, "seconds": round(audio.seconds, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m speech", description="语音工具")
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("transcribe", help="把录音文件转写成文字（WAV / OGG / WebM）")
    cmd.add_argument("file", type=Path)
    cmd.add_argument("--engine", default=None, help="auto | vosk | whisper（默认取 settings.toml）")
    cmd.add_argument("--json", action="store_true", help='输出 {"text", "engine", "seconds"}')
    cmd.add_argument("--raw", action="store_true", help="不做繁简转换和数字规范化")
    prompts.add_command(commands)
    args = parser.parse_args(argv)
    if args.command == "prompts":
        return prompts.run_command(args)
    try:
        if not args.file.is_file():
            raise AudioError("not_found", f"找不到文件 {args.file}")
        result = transcribe_file(args.file, args.engine, args.raw)
    except AudioError as exc:
        print(f"{args.file}: {exc.message}（{exc.code}）", file=sys.stderr)
        return 2
    except asr.AsrUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 3
    print(json.dumps(result, ensure_ascii=False) if args.json else result["text"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
