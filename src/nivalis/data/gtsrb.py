"""GTSRB traffic signs from the official `Final_Training` / `Final_Test` folders (Stallkamp et al. 2011; seed 003 §5.3).

Layout (as the official zips unpack, with or without the leading `GTSRB/`):

- `Final_Training/Images/NNNNN/GT-NNNNN.csv` for each class NNNNN (00000–00042) beside its `.ppm`
  images, named `TTTTT_FFFFF.ppm` (track, frame: 30 frames of one physical sign per track);
- `Final_Test/Images/*.ppm` and the test annotations `GT-final_test.csv` (from `GTSRB_Final_Test_GT.zip`;
  looked for in `Final_Test/Images/`, `Final_Test/`, the GTSRB folder and the data directory).

Annotation files are `;`-separated: `Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId`.
Every image is cropped to its ROI (inclusive corners) and resized to 32×32 (the seed's input size),
39,209 training and 12,630 test images, 43 classes. Validation: 10 % of the training *tracks* per
class, so frames of one sign never sit in both train and validation.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import numpy as np

from nivalis.data.base import ClassificationData, register_dataset
from nivalis.data.download import Archive, download_dataset, register_archives
from nivalis.data.transforms import crop_resize, to_classification_data
from nivalis.errors import UserError
from nivalis.progress import progress

NUM_CLASSES = 43
TEST_GT = "GT-final_test.csv"
COLUMNS = ["Filename", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId"]
_BASE = "https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/"
ARCHIVES = [
    Archive(_BASE + "GTSRB_Final_Training_Images.zip", "f33fd80ac59bff73c82d25ab499e03a3"),
    Archive(_BASE + "GTSRB_Final_Test_Images.zip", "c7e4e6327067d32654124b0fe9e82185"),
    Archive(_BASE + "GTSRB_Final_Test_GT.zip", "fe31e9c9270bbcd7b84b7f21a9d9d9e5"),
]
register_archives("gtsrb", ARCHIVES)


def read_annotations(csv_path: Path) -> list[dict]:
    """Rows of a GT csv as dicts with Filename, roi (x1, y1, x2, y2) and ClassId."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter=";")
            header = reader.fieldnames or []
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise UserError(f"{csv_path} is not a GTSRB annotation file: missing column(s) {', '.join(missing)} "
                                f"(expected ';'-separated {';'.join(COLUMNS)})")
            rows = []
            for line, row in enumerate(reader, start=2):
                try:
                    roi = tuple(int(row[c]) for c in ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2"))
                    label = int(row["ClassId"])
                except (TypeError, ValueError):
                    raise UserError(f"{csv_path}:{line}: ROI and ClassId must be integers") from None
                if not 0 <= label < NUM_CLASSES:
                    raise UserError(f"{csv_path}:{line}: ClassId {label} outside 0..{NUM_CLASSES - 1}")
                rows.append({"Filename": row["Filename"], "roi": roi, "ClassId": label})
    except UnicodeDecodeError:
        raise UserError(f"{csv_path} is not a text annotation file") from None
    return rows


def _load_images(folder: Path, rows: list[dict], image_size: int, desc: str) -> np.ndarray:
    import cv2

    out = np.empty((len(rows), image_size, image_size, 3), dtype=np.uint8)
    for i, row in enumerate(progress(rows, total=len(rows), desc=desc)):
        path = folder / row["Filename"]
        if not path.is_file():
            raise UserError(f"image listed in the annotations is missing: {path}")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"cannot decode image {path} (expected a .ppm)")
        out[i] = crop_resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), row["roi"], image_size)
    return out


def find_root(data_dir: Path) -> Path | None:
    for candidate in (data_dir, data_dir / "GTSRB"):
        if (candidate / "Final_Training" / "Images").is_dir():
            return candidate
    return None


def _track(filename: str) -> int:
    stem = Path(filename).stem
    head = stem.split("_", 1)[0]
    # a name outside the official pattern is its own track (crc32: stable across processes)
    return int(head) if head.isdigit() else zlib.crc32(stem.encode()) + 10_000_000


def read_training(root: Path, image_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, track groups) of `Final_Training/Images`; a track id is unique across classes."""
    class_dirs = sorted(p for p in (root / "Final_Training" / "Images").iterdir() if p.is_dir())
    if not class_dirs:
        raise UserError(f"{root / 'Final_Training' / 'Images'} holds no class folders (expected 00000 … 00042)")
    images, labels, groups = [], [], []
    for class_dir in class_dirs:
        gt = class_dir / f"GT-{class_dir.name}.csv"
        if not gt.is_file():
            raise UserError(f"missing annotation file {gt} (each class folder holds GT-<class>.csv)")
        rows = read_annotations(gt)
        images.append(_load_images(class_dir, rows, image_size, desc=f"GTSRB class {class_dir.name}"))
        labels.extend(r["ClassId"] for r in rows)
        groups.extend(r["ClassId"] * 100_000 + _track(r["Filename"]) for r in rows)
    return np.concatenate(images), np.asarray(labels, dtype=np.int64), np.asarray(groups, dtype=np.int64)


def find_test_annotations(root: Path, data_dir: Path) -> Path | None:
    for folder in (root / "Final_Test" / "Images", root / "Final_Test", root, data_dir):
        if (folder / TEST_GT).is_file():
            return folder / TEST_GT
    return None


@register_dataset("gtsrb")
def load_gtsrb(data_dir: str | Path | None = None, *, download: bool = False, image_size: int = 32,
               val_fraction: float = 0.1) -> ClassificationData:
    """Read GTSRB (final training + test sets) from `data_dir`, ROI-cropped and resized."""
    data_dir = Path(data_dir)
    root = find_root(data_dir)
    test_gt = find_test_annotations(root, data_dir) if root else None
    if (root is None or test_gt is None or not (root / "Final_Test" / "Images").is_dir()) and download:
        download_dataset("gtsrb", data_dir)
        root = find_root(data_dir)
        test_gt = find_test_annotations(root, data_dir) if root else None
    if root is None:
        raise UserError(f"{data_dir} is not a GTSRB directory: expected Final_Training/Images/NNNNN/GT-NNNNN.csv "
                        f"with .ppm images (optionally under GTSRB/; --download fetches them)")
    if not (root / "Final_Test" / "Images").is_dir():
        raise UserError(f"GTSRB test images missing: expected {root / 'Final_Test' / 'Images'} "
                        f"(from GTSRB_Final_Test_Images.zip)")
    if test_gt is None:
        raise UserError(f"GTSRB test annotations missing: expected {TEST_GT} (from GTSRB_Final_Test_GT.zip) in "
                        f"{root / 'Final_Test' / 'Images'} or {data_dir}")
    x_train, y_train, tracks = read_training(root, image_size)
    test_rows = read_annotations(test_gt)
    x_test = _load_images(root / "Final_Test" / "Images", test_rows, image_size, desc="GTSRB test")
    y_test = np.asarray([r["ClassId"] for r in test_rows], dtype=np.int64)
    return to_classification_data("gtsrb", x_train, y_train, x_test, y_test, num_classes=NUM_CLASSES,
                                  class_names=[f"{i:05d}" for i in range(NUM_CLASSES)], val_fraction=val_fraction,
                                  groups=tracks)
