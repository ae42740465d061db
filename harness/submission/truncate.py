"""``mlperf_log_accuracy.json`` truncation and the ``hash=`` line, as MLPerf's
``tools/submission/truncate_accuracy_log.py`` does them.

That tool, for each ``results/.../accuracy/`` folder: skips it when accuracy.txt
already has a ``hash=`` line and the log is under 10 KiB; otherwise appends
``hash=<sha256 of the whole log>`` to accuracy.txt and rewrites the log as its first
4096 characters, ``"\\n\\n...\\n\\n"``, and the 4096 characters that end it (read from
``size - 4096``: for a log under 8 KiB the two parts overlap, and the tool writes the
overlap twice). The MLPerf checker then only requires the hash line and a log of at
most 10 KiB; MLPerf asks submitters to keep the original logs.

Differences, both on inputs the tool cannot handle: the tool reads text, this reads
bytes (LoadGen writes ASCII, where the two agree); and a log shorter than 4096 bytes,
where the tool's seek fails, is kept whole (it is under the limit already).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

MAX_ACCURACY_LOG_SIZE = 10 * 1024
VIEWABLE_SIZE = 4096
ELLIPSIS = b"\n\n...\n\n"
HASH_LINE = re.compile(r"^hash=([\w\d]+)$")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def truncated_bytes(data: bytes) -> bytes:
    """What truncate_accuracy_log.py leaves of a log with this content."""
    if len(data) < VIEWABLE_SIZE:
        return data
    return data[:VIEWABLE_SIZE] + ELLIPSIS + data[len(data) - VIEWABLE_SIZE:]


def hash_lines(text: str) -> list[str]:
    """The values of the ``hash=`` lines of an accuracy.txt (the checker takes the first)."""
    found = []
    for line in text.splitlines():
        match = HASH_LINE.match(line)
        if match:
            found.append(match.group(1))
    return found


def with_hash_line(accuracy_text: str, digest: str) -> str:
    """accuracy.txt with the hash line appended. The tool appends ``hash=...\\n`` to the
    file as it is; a file without a final newline would glue the hash onto its last line
    (and the checker would find neither), so a newline is added first."""
    if accuracy_text and not accuracy_text.endswith("\n"):
        accuracy_text += "\n"
    return f"{accuracy_text}hash={digest}\n"


def truncate_into(original: Path, accuracy_txt_text: str, dest_log: Path) -> tuple[str, str | None]:
    """Write what the tool leaves of ``original`` to ``dest_log``.

    Returns (the accuracy.txt text, the hash that text now ends with). As the tool: a
    text that already has a hash line, for a log under 10 KiB, is left alone and the log
    copied whole (the check then compares that hash with the log); otherwise the hash of
    the whole log is appended and the log truncated.
    """
    data = original.read_bytes()
    existing = hash_lines(accuracy_txt_text)
    if existing and len(data) < MAX_ACCURACY_LOG_SIZE:
        dest_log.write_bytes(data)
        return accuracy_txt_text, existing[0]
    digest = hashlib.sha256(data).hexdigest()
    dest_log.write_bytes(truncated_bytes(data))
    return with_hash_line(accuracy_txt_text, digest), digest
