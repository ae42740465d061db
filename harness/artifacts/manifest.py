"""Manifests: what a cache entry held when it was built, and checks against it.

Every entry the cache publishes (a built folder, a built file, a downloaded
model) carries a manifest listing, for each file, its size, its mtime_ns and
ctime_ns as seen right after the build, and a sha256 digest of every 256 KiB
block (truncated to 128 bits: this guards against accidents and stale
copies, not against someone forging collisions). Where it lives:

- a folder entry: ``<entry>/.manifest.json``, written inside the temporary
  folder before the atomic rename, so the entry and its manifest appear
  together or not at all (a killed builder can never publish one without the
  other);
- a file entry: the hidden sidecar ``<parent>/.<name>.manifest.json``.

Two checks, and what each costs and catches:

- ``quick_check`` (every use): every listed file present with its size, its
  mtime_ns and ctime_ns, plus SAMPLED_BLOCKS blocks chosen at random across
  the entry, re-hashed. A truncated or grown file fails on its size. A write in
  place moves mtime and ctime (timestamps have the kernel's clock-tick
  granularity, so only a write in the same few milliseconds as the build could
  keep them). ``touch -d`` can put mtime back but not ctime: setting
  timestamps itself moves ctime, and user space cannot set ctime. An entry
  small enough (at most SAMPLED_BLOCKS blocks) is re-hashed whole every time.
  What slips through: an alteration with both timestamps restored (a changed
  system clock, a raw-device edit) in a block not sampled this time; the
  random sample makes it likely to surface over repeated uses, not certain.
- ``full_check``: every block of every file re-hashed. It runs at build time
  (the digests are computed then), and on use whenever the quick check cannot
  vouch for a file because its timestamps changed. That also happens when the
  cache is copied or restored (``cp -a``, a CI cache) or a file is chmod-ed:
  the full check then passes once and the new timestamps are recorded, so the
  next use is quick again.

Files an entry gains after its build are not listed and not checked: readers
open the files they know by name.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import random
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_VERSION = 1
BLOCK_SIZE = 256 * 1024
# sha256 measured ~1.8 GB/s here (SHA-NI) against ~0.9 GB/s for blake2b.
BLOCK_HASH = "sha256"
DIGEST_HEX = 32  # 128 bits of each block digest are kept: the manifest stays small
SAMPLED_BLOCKS = 8

INNER_NAME = ".manifest.json"
TMP_MARKER = ".tmp-"  # same convention as the cache: only a lock holder writes these

# Which blocks to re-hash is seeded from the OS: a fixed pattern could be dodged on purpose.
_rng = random.Random(secrets.randbits(64))


def inner_path(entry: Path) -> Path:
    return Path(entry) / INNER_NAME


def sidecar_path(entry: Path) -> Path:
    entry = Path(entry)
    return entry.with_name(f".{entry.name}.manifest.json")


def manifest_path(entry: Path) -> Path:
    """Where ``entry``'s manifest is: inside a folder, beside a file."""
    entry = Path(entry)
    return inner_path(entry) if entry.is_dir() else sidecar_path(entry)


class BlockDigests:
    """Digest of every BLOCK_SIZE block of a byte stream fed in chunks of any size."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.size = 0
        self._h = hashlib.new(BLOCK_HASH)
        self._fill = 0

    def update(self, data) -> None:
        view = memoryview(data).cast("B")
        while view:
            take = min(len(view), BLOCK_SIZE - self._fill)
            self._h.update(view[:take])
            self._fill += take
            self.size += take
            view = view[take:]
            if self._fill == BLOCK_SIZE:
                self._close_block()

    def _close_block(self) -> None:
        self.blocks.append(self._h.hexdigest()[:DIGEST_HEX])
        self._h = hashlib.new(BLOCK_HASH)
        self._fill = 0

    def finish(self) -> list[str]:
        if self._fill:
            self._close_block()
        return self.blocks


def scan_file(path: Path, *extra) -> list[str]:
    """Block digests of ``path``; each of ``extra`` (hashlib objects) is fed the same bytes.

    One pass serves both the manifest and a registry checksum of a download.
    """
    digests = BlockDigests()
    buf = bytearray(BLOCK_SIZE * 4)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            digests.update(view[:n])
            for h in extra:
                h.update(view[:n])
    return digests.finish()


def _stamp(st: os.stat_result) -> dict:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


def _files_of(entry: Path) -> list[str]:
    """Relative paths of the regular files of a folder entry, manifest excluded; "" for a file entry."""
    if not entry.is_dir():
        return [""]
    rels = []
    for p in entry.rglob("*"):
        rel = p.relative_to(entry).as_posix()
        if rel.startswith(INNER_NAME):  # the manifest and its temporaries
            continue
        if p.is_file():
            rels.append(rel)
        elif not p.is_dir():
            raise OSError(f"{p}: cache entries hold regular files and folders only")
    return sorted(rels)


def _file(entry: Path, rel: str) -> Path:
    return entry / rel if rel else entry


def file_record(path: Path, blocks: list[str] | None = None, st: os.stat_result | None = None) -> dict:
    """Size, timestamps and block digests of one file.

    The stat is taken BEFORE hashing: if the file changes while it is read, its
    timestamps then differ from the recorded ones and the next use re-hashes it.
    """
    st = st or os.stat(path)
    return {**_stamp(st), "blocks": blocks if blocks is not None else scan_file(path)}


def build(entry: Path, name: str, *, checksum: str | None = None) -> dict:
    """Scan ``entry`` (a file or folder) into a manifest dict, without writing it."""
    entry = Path(entry)
    files = []
    for rel in _files_of(entry):
        files.append({"path": rel, **file_record(_file(entry, rel))})
    return new_manifest(name, "dir" if entry.is_dir() else "file", files, checksum=checksum)


def new_manifest(name: str, kind: str, files: list[dict], *, checksum: str | None = None) -> dict:
    m = {"manifest_version": MANIFEST_VERSION, "entry": name, "kind": kind,
         "block_size": BLOCK_SIZE, "block_hash": f"{BLOCK_HASH}/{DIGEST_HEX * 4}",
         "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": files}
    if checksum is not None:
        m["checksum"] = checksum
    return m


def write(path: Path, manifest: dict) -> None:
    """Write atomically (temporary sibling, fsync, rename): a reader sees the old or the new one."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "w") as f:
            json.dump(manifest, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


def sweep(entry: Path) -> None:
    """Remove manifest temporaries a killed writer left (call under the entry's lock)."""
    entry = Path(entry)
    places = [(entry.parent, sidecar_path(entry).name)]
    if entry.is_dir():
        places.append((entry, INNER_NAME))
    for folder, name in places:
        for p in folder.glob(f"{glob_escape(name)}{TMP_MARKER}*"):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


def glob_escape(text: str) -> str:
    # Artifact names are plain, but a '[' in a user's path must not become a pattern.
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


class ManifestUnreadable(ValueError):
    pass


def load(entry: Path) -> dict | None:
    """The entry's manifest, None if it has none; ManifestUnreadable if it is not one of ours."""
    path = manifest_path(entry)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        m = json.loads(text)
        if m.get("manifest_version") != MANIFEST_VERSION or m.get("block_size") != BLOCK_SIZE:
            raise ValueError(f"manifest_version {m.get('manifest_version')!r}, block_size "
                             f"{m.get('block_size')!r} (expected {MANIFEST_VERSION}, {BLOCK_SIZE})")
        if m.get("kind") not in ("dir", "file"):
            raise ValueError(f"kind {m.get('kind')!r} (expected 'dir' or 'file')")
        for f in m["files"]:
            if not (isinstance(f["path"], str) and isinstance(f["size"], int) and isinstance(f["blocks"], list)):
                raise ValueError(f"bad file record {f!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ManifestUnreadable(f"manifest {path} is unreadable: {e}") from None
    return m


@dataclass
class Inspection:
    """What a check found: ``problems`` (the entry is wrong) and ``unsure`` (files to re-hash)."""
    problems: list[str] = field(default_factory=list)
    unsure: list[dict] = field(default_factory=list)  # file records whose timestamps moved
    manifest: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unsure


NO_MANIFEST = ("no manifest (built by an older version of the harness, or not by this cache): "
               "its content cannot be verified")


def quick_check(entry: Path, *, samples: int = SAMPLED_BLOCKS) -> Inspection:
    """Sizes and timestamps of every file, plus ``samples`` random blocks re-hashed."""
    entry = Path(entry)
    if not os.path.lexists(entry):
        return Inspection(["missing"])
    try:
        m = load(entry)
    except ManifestUnreadable as e:
        return Inspection([str(e)])
    if m is None:
        return Inspection([NO_MANIFEST])
    if (m["kind"] == "dir") != entry.is_dir():
        return Inspection([f"is a {'folder' if entry.is_dir() else 'file'}, the manifest lists a {m['kind']}"], manifest=m)
    found = Inspection(manifest=m)
    vouched = []
    for rec in m["files"]:
        path = _file(entry, rec["path"])
        label = rec["path"] or entry.name
        try:
            st = os.stat(path)
        except FileNotFoundError:
            found.problems.append(f"{label}: missing")
            continue
        if not stat.S_ISREG(st.st_mode):
            found.problems.append(f"{label}: not a regular file")
        elif st.st_size != rec["size"]:
            found.problems.append(f"{label}: size expected {rec['size']} got {st.st_size}")
        elif (st.st_mtime_ns, st.st_ctime_ns) != (rec["mtime_ns"], rec["ctime_ns"]):
            found.unsure.append(rec)
        else:
            vouched.append(rec)
    if not found.problems:
        found.problems += _sampled_blocks(entry, vouched, samples)
    return found


def _sampled_blocks(entry: Path, records: list[dict], samples: int) -> list[str]:
    # Draw blocks uniformly over the whole entry, so a 300 MB array and a few
    # small labels files are sampled in proportion to their size.
    ends, total = [], 0
    for rec in records:
        total += len(rec["blocks"])
        ends.append(total)
    picks: dict[int, list[int]] = {}
    for k in sorted(_rng.sample(range(total), min(samples, total))):
        i = bisect.bisect_right(ends, k)
        picks.setdefault(i, []).append(k - (ends[i] - len(records[i]["blocks"])))
    problems = []
    for i, blocks in picks.items():
        rec = records[i]
        try:
            f = open(_file(entry, rec["path"]), "rb")
        except FileNotFoundError:  # removed since its stat (another process replacing the entry)
            problems.append(f"{rec['path'] or entry.name}: missing")
            continue
        with f:
            for b in blocks:
                f.seek(b * BLOCK_SIZE)
                got = hashlib.new(BLOCK_HASH, f.read(BLOCK_SIZE)).hexdigest()[:DIGEST_HEX]
                if got != rec["blocks"][b]:
                    problems.append(_digest_problem(rec, entry, b))
                    break
    return problems


def _digest_problem(rec: dict, entry: Path, block: int) -> str:
    start = block * BLOCK_SIZE
    end = min(start + BLOCK_SIZE, rec["size"])
    return (f"{rec['path'] or entry.name}: digest mismatch in block {block} of {len(rec['blocks'])} "
            f"(bytes {start}..{end}); the content changed since the entry was built")


def full_check(entry: Path) -> list[str]:
    """Every block of every listed file re-hashed against the manifest; the problems found."""
    entry = Path(entry)
    if not os.path.lexists(entry):
        return ["missing"]
    try:
        m = load(entry)
    except ManifestUnreadable as e:
        return [str(e)]
    if m is None:
        return [NO_MANIFEST]
    return rehash(entry, m["files"])[0]


def rehash(entry: Path, records: list[dict]) -> tuple[list[str], dict[str, os.stat_result]]:
    """Re-hash every block of ``records``; return (problems, the stats of the files that passed).

    Each stat is taken before its file is read: those are the ones to record
    (see ``file_record``).
    """
    entry = Path(entry)
    problems, seen = [], {}
    for rec in records:
        path = _file(entry, rec["path"])
        label = rec["path"] or entry.name
        try:
            st = os.stat(path)
            blocks = scan_file(path)
        except FileNotFoundError:
            problems.append(f"{label}: missing")
            continue
        if st.st_size != rec["size"]:
            problems.append(f"{label}: size expected {rec['size']} got {st.st_size}")
            continue
        bad = next((i for i, (a, b) in enumerate(zip(blocks, rec["blocks"])) if a != b), None)
        if bad is None and len(blocks) != len(rec["blocks"]):
            bad = min(len(blocks), len(rec["blocks"]))  # grew or shrank while being read
        if bad is not None:
            problems.append(_digest_problem(rec, entry, bad))
        else:
            seen[rec["path"]] = st
    return problems, seen


def restamp(manifest: dict, seen: dict[str, os.stat_result]) -> dict:
    """A copy of ``manifest`` with the given files' stats recorded (their content was just verified)."""
    files = [{**rec, **_stamp(seen[rec["path"]])} if rec["path"] in seen else rec for rec in manifest["files"]]
    return {**manifest, "files": files}
