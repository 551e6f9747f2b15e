"""Asterisk for the voice bot: where it is prepared, its configuration, and how to start it.

Why rendered configuration: ports, the AMI secret and every folder come from ``settings.toml``
(and differ per test session), so the files under ``conf/`` are templates with ``{{name}}``
placeholders (``${...}`` stays Asterisk's own dialplan syntax) rendered into
``[telephony] config_dir``. Why the loader in ``argv``: sid's binaries need sid's glibc, which is
unpacked next to them; running the sid loader with an explicit library path leaves the host alone.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import settings

HERE = Path(__file__).resolve().parent
INSTALL = HERE / "install.sh"
TEMPLATES = HERE / "conf"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# Files Asterisk's core reads at start; empty ones mean "defaults" instead of an error line each.
EMPTY_CONFIGS = ("stasis.conf", "cel.conf", "features.conf", "indications.conf", "acl.conf",
                 "udptl.conf", "pjproject.conf", "ccss.conf")


def prefix() -> Path:
    """The unpacked Debian sid root (prepared by ``make asterisk``; a no-op when already done)."""
    result = subprocess.run([str(INSTALL)], check=True, capture_output=True, text=True)
    return Path(result.stdout.strip().splitlines()[-1])


def render(text: str, values: dict[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise KeyError(f"no value for {{{{{match.group(1)}}}}} in an Asterisk template")
        return str(values[match.group(1)])

    return PLACEHOLDER.sub(substitute, text)


@dataclass
class AsteriskLayout:
    prefix: Path
    root: Path  # [telephony] config_dir

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def argv(self) -> list[str]:
        """Asterisk in the foreground, no console, its own config, through the sid loader."""
        p = self.prefix
        loader = p / "usr/lib64/ld-linux-x86-64.so.2"
        libs = f"{p}/usr/lib/x86_64-linux-gnu:{p}/lib/x86_64-linux-gnu"
        return [str(loader), "--library-path", libs, str(p / "usr/sbin/asterisk"),
                "-f", "-n", "-C", str(self.etc / "asterisk.conf")]

    def cli(self, command: str) -> list[str]:
        """``asterisk -rx`` against this instance's control socket."""
        return [*self.argv()[:-4], "-C", str(self.etc / "asterisk.conf"), "-rx", command]


def write_config(conf: dict[str, Any], prefix_dir: Path | None = None) -> AsteriskLayout:
    """Render every template for ``conf`` (the ``[telephony]`` section); returns the layout."""
    layout = AsteriskLayout(prefix_dir or prefix(), settings.resolve_path(conf["config_dir"]))
    for folder in (layout.etc, layout.run_dir, layout.log_dir, layout.root / "lib", layout.root / "spool"):
        folder.mkdir(parents=True, exist_ok=True)
    secret_file = settings.resolve_path(conf["ami_secret_file"])
    secret = settings.read_or_create_secret(conf["ami_secret_file"])
    secret_conf = secret_file.with_name(secret_file.name + ".conf")  # the line manager.conf includes
    fd = os.open(secret_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"secret = {secret}\n")
    values = {**conf, "prefix": layout.prefix, "etc_dir": layout.etc, "run_dir": layout.run_dir,
              "log_dir": layout.log_dir, "lib_dir": layout.root / "lib", "spool_dir": layout.root / "spool",
              "ami_secret_conf": secret_conf}
    for template in sorted(TEMPLATES.glob("*.conf")):
        target = layout.etc / template.name
        target.write_text(render(template.read_text(encoding="utf-8"), values), encoding="utf-8")
        target.chmod(0o600)
    for name in EMPTY_CONFIGS:
        (layout.etc / name).write_text("", encoding="utf-8")
    return layout
