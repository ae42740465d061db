"""MLPerf's COCO-2014 caption folder: what it holds and how it is read.

Layout (``text_to_image/tools/coco.py`` writes it, ``coco.py``'s QSL reads it)::

    captions/captions.tsv     tab-separated, a header line: id, image_id, caption, height, width,
                              file_name (and coco_url); one caption per row, the rows in query-sample order
    latents/latents.pt        the one starting latent every sample shares, [1, 4, H/8, W/8]
    latents/latents.npy       the same as numpy (``--latent-framework numpy``)
    validation/data/<file_name>  the COCO pictures (only for computing FID statistics; the run reads none)

MLPerf's QSL reads the rows with pandas (``read_csv(sep="\\t")``: a caption
in double quotes may hold tabs); the csv module reads that dialect too. A
row's ``caption`` is what the model is given and what the CLIP score
compares with; ``file_name`` names its picture. The checker also wants ten
of the generated pictures saved (``images/<qsl_idx>.png``): sample 0 and
the ids each round's checker names (``SAMPLE_IDS``: every round's); a dataset
folder may hold its own ``sample_ids.txt`` (the proxy's does: its ids lie
within its 128 captions).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.datasets.base import DatasetFormatError

CAPTIONS_FILE = Path("captions") / "captions.tsv"
LATENTS_FILES = (Path("latents") / "latents.pt", Path("latents") / "latents.npy")  # coco.py's default first
IMAGES_DIR = Path("validation") / "data"
SAMPLE_IDS_FILE = "sample_ids.txt"
# The columns tools/coco.py writes (coco_url came later; the committed captions.tsv lacks it).
FIELDS = ("id", "image_id", "caption", "height", "width", "file_name")
INTEGER_FIELDS = ("id", "image_id", "height", "width")
# The ten pictures each round's checker wants in the accuracy folder
# (REQUIRED_ACC_BENCHMARK["stable-diffusion-xl"][round]["images"]; v5.0's is
# text_to_image/tools/sample_ids.txt), in the checker's order.
CHECKER_IMAGE_IDS = {
    "v5.0": (4459, 4015, 2705, 1682, 4048, 4683, 3757, 1578, 3319, 95),
    "v5.1": (2747, 2235, 2165, 1515, 1538, 1367, 2419, 4629, 3657, 4532),
    "v6.0": (1311, 2476, 3644, 2188, 4114, 52, 388, 1195, 3427, 2289),
}
# A run on the real captions saves every round's (accuracy_coco.py saves sample 0
# too): its accuracy folder then fits the tree of whichever round it is submitted to.
SAMPLE_IDS = tuple(dict.fromkeys(i for ids in CHECKER_IMAGE_IDS.values() for i in ids))
LATENT_CHANNELS = 4
VAE_SCALE_FACTOR = 8
LAYOUT = "captions/captions.tsv, latents/latents.pt (or .npy)"


@dataclass(frozen=True)
class CaptionRow:
    id: int
    image_id: int
    caption: str
    file_name: str


@dataclass(frozen=True)
class CaptionSet:
    root: Path
    path: Path  # captions.tsv
    rows: tuple[CaptionRow, ...]

    def first(self, count: int | None) -> tuple[CaptionRow, ...]:
        if count is None:
            return self.rows
        if not 1 <= count <= len(self.rows):
            raise DatasetFormatError(f"{self.path}: --mlperf-count {count}, but it holds {len(self.rows)} captions")
        return self.rows[:count]


def dataset_root(directory: Path) -> Path:
    """The folder holding captions/: the folder given, or two levels above a captions.tsv given itself."""
    directory = Path(directory)
    if directory.is_file() and directory.name == CAPTIONS_FILE.name:
        return directory.parents[1]
    return directory


def read_captions(directory: Path) -> CaptionSet:
    root = dataset_root(directory)
    path = root / CAPTIONS_FILE
    if not root.is_dir():
        raise DatasetFormatError(f"{root}: no such folder (expected the COCO-2014 caption folder: {LAYOUT})")
    if not path.is_file():
        raise DatasetFormatError(f"{path}: no such file (expected MLPerf's caption list, written by "
                                 "text_to_image/tools/coco.py)")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            header = reader.fieldnames or []
            missing = [field for field in FIELDS if field not in header]
            if missing:
                raise DatasetFormatError(
                    f"{path}: no {', '.join(repr(m) for m in missing)} column (the header has "
                    f"{', '.join(header) or 'nothing'}; expected the columns tools/coco.py writes: {', '.join(FIELDS)})")
            rows = [_row(path, line, record) for line, record in enumerate(reader, start=2)]
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DatasetFormatError(f"{path}: not a tab-separated caption list ({exc})") from None
    if not rows:
        raise DatasetFormatError(f"{path}: holds a header but no caption")
    return CaptionSet(root, path, tuple(rows))


def _row(path: Path, line: int, record: dict) -> CaptionRow:
    where = f"{path}: line {line}"
    if None in record:  # csv.DictReader puts the cells past the header under None
        raise DatasetFormatError(f"{where}: more cells than the header's {len(record) - 1} columns")
    empty = [field for field in FIELDS if record.get(field) in (None, "")]
    if empty:
        raise DatasetFormatError(f"{where}: no value in the {', '.join(repr(e) for e in empty)} field")
    for field in INTEGER_FIELDS:
        try:
            int(record[field])
        except ValueError:
            raise DatasetFormatError(f"{where}: {field} {record[field]!r} is not an integer") from None
    return CaptionRow(int(record["id"]), int(record["image_id"]), record["caption"], record["file_name"])


def latents_path(root: Path) -> Path:
    for relative in LATENTS_FILES:
        if (root / relative).is_file():
            return root / relative
    raise DatasetFormatError(f"{root}: no {' or '.join(str(p) for p in LATENTS_FILES)} (the starting latent "
                             "every sample shares: text_to_image/tools/latent.py writes it)")


def read_latents(root: Path, image_size: int | None = None) -> np.ndarray:
    """float32 [1, 4, H/8, W/8]; ``image_size``: the picture side the model makes, when known."""
    path = latents_path(Path(root))
    if path.suffix == ".pt":
        try:
            import torch
        except ImportError:
            raise DatasetFormatError(f"{path}: reading a torch latent needs torch; or give latents/latents.npy") from None
        try:
            tensor = torch.load(str(path), weights_only=True, map_location="cpu")
        except Exception as exc:  # torch raises pickle, zip and runtime errors for a bad file
            raise DatasetFormatError(f"{path}: torch.load cannot read it; expected one tensor ({exc})") from None
        if not isinstance(tensor, torch.Tensor):
            raise DatasetFormatError(f"{path}: holds a {type(tensor).__name__}; expected one tensor")
        latents = tensor.detach().to(torch.float32).numpy()
    else:
        try:
            latents = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DatasetFormatError(f"{path}: not a numpy array file ({exc})") from None
    expected = f"[1, {LATENT_CHANNELS}, H/{VAE_SCALE_FACTOR}, W/{VAE_SCALE_FACTOR}]"
    if latents.ndim != 4 or latents.shape[:2] != (1, LATENT_CHANNELS):
        raise DatasetFormatError(f"{path}: a latent of shape {list(latents.shape)}; expected {expected}")
    if image_size:
        side = int(image_size) // VAE_SCALE_FACTOR
        if latents.shape[2:] != (side, side):
            raise DatasetFormatError(f"{path}: a latent of shape {list(latents.shape)}; the model makes "
                                     f"{image_size}x{image_size} pictures from [1, {LATENT_CHANNELS}, {side}, {side}]")
    if not np.issubdtype(latents.dtype, np.floating) or not np.isfinite(latents).all():
        raise DatasetFormatError(f"{path}: expected finite floating-point values")
    return np.ascontiguousarray(latents, dtype=np.float32)


def sample_ids(root: Path) -> tuple[int, ...]:
    """The ids of the pictures to save: the folder's sample_ids.txt, else MLPerf's list."""
    path = Path(root) / SAMPLE_IDS_FILE
    if not path.is_file():
        return SAMPLE_IDS
    ids = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                ids.append(int(line.strip()))
            except ValueError:
                raise DatasetFormatError(f"{path}:{line_no}: {line.strip()!r} is not a sample id") from None
    return tuple(ids)


def write_captions(path: Path, rows: list[CaptionRow], size: int) -> None:
    """A captions.tsv as tools/coco.py writes it (pandas' to_csv: tab-separated, minimal quoting)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow((row.id, row.image_id, row.caption, size, size, row.file_name))
