"""Dataset loaders: one function, :func:`load`, for every dataset the book uses.

Files live under one data root: the ``root`` argument, else the environment
variable ``CLUSTUTILS_DATA``, else ``$XDG_CACHE_HOME/clustutils/data``
(``~/.cache/clustutils/data``).  Files have the names and formats torchvision
downloads (MNIST and Fashion-MNIST also its folders, ``MNIST/raw``, ``FashionMNIST/raw``).

Missing files are downloaded where a public source with a known checksum
exists, and verified before use.  Offline, or for datasets that cannot be
downloaded, :class:`DatasetNotFoundError` names the exact files and folder
expected.  Truncated or corrupt files raise :class:`CorruptDatasetError`:
a loader never returns part of a dataset without being asked to.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import os
import re
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import env
from .env import data_root

__all__ = [
    "Dataset",
    "DatasetNotFoundError",
    "CorruptDatasetError",
    "DATASETS",
    "IGNORE",
    "data_root",
    "load",
    "load_split",
    "from_arrays",
    "from_folder",
]

DOWNLOAD_TIMEOUT_S = 2.0
IGNORE = 255
"""Mask value of pixels that metrics ignore (object borders, unlabeled)."""


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not under the data root and could not be downloaded."""


class CorruptDatasetError(ValueError):
    """A dataset file exists but is truncated, corrupt or incomplete."""


@dataclass
class Dataset:
    """Images and labels of one split.

    ``images`` is uint8, ``(N, H, W)`` for grey and ``(N, H, W, 3)`` for colour.
    ``labels`` is int64 ``(N,)``.  ``masks`` (segmentation sets) is uint8
    ``(N, H, W)`` with 1 = foreground, 0 = background, ``IGNORE`` = ignored.
    ``groups`` (IDC, flowers17_patches) holds the patient id / source image of each patch.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray | None = None
    groups: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def features(self) -> np.ndarray:
        """Images flattened to float32 rows in [0, 1], shape ``(N, D)``."""
        return self.images.reshape(len(self.images), -1).astype(np.float32) / 255.0

    def tensors(self, device=None):
        """``(x, y)`` as torch tensors: x float32 ``(N, C, H, W)`` in [0, 1]."""
        import torch

        x = torch.from_numpy(self.images).float().div_(255.0)
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
        y = torch.from_numpy(self.labels)
        return x.to(device), y.to(device)


# --------------------------------------------------------------------------
# Files, checksums and downloads


@dataclass(frozen=True)
class _Remote:
    """A file of a dataset: where to download it and how to verify it."""

    name: str
    urls: tuple[str, ...] = ()
    md5: str | None = None  # of the file as downloaded


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_gzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError) as err:  # truncated or not gzip
        raise CorruptDatasetError(f"{path} is not a complete gzip file ({err}); delete it and retry.") from err


def _missing_error(dataset: str, folder: Path, names, why: str = "") -> DatasetNotFoundError:
    listing = "\n".join(f"  {folder / n}" for n in names)
    return DatasetNotFoundError(
        f"Dataset {dataset!r}: missing files in folder {folder}:\n{listing}\n"
        f"{why}Put these files there, or point {env.DATA} (or root=...) at a data root "
        f"that holds them. See the book's 'Datasets' page."
    )


def _download(remote: _Remote, target: Path) -> None:
    """Download ``remote`` to ``target`` atomically, verifying its checksum."""
    if env.get(env.OFFLINE):
        raise OSError(f"downloads disabled by {env.OFFLINE}")
    errors = []
    for url in remote.urls:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                data = response.read()
        except OSError as err:
            errors.append(f"{url}: {err}")
            continue
        if remote.md5 and _md5(data) != remote.md5:
            errors.append(f"{url}: checksum mismatch")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
        return
    raise OSError("; ".join(errors) or "no download source")


def _ensure(dataset: str, folder: Path, remotes: list[_Remote], download: bool) -> list[Path]:
    """Return the paths of ``remotes`` under ``folder``, downloading missing ones."""
    missing = [r for r in remotes if not (folder / r.name).is_file()]
    if missing:
        can = all(r.urls for r in missing)
        why = ""
        if not can:
            why = "The loader cannot download these files. "
        elif not download:
            why = "Downloading was turned off (download=False). "
        else:
            try:
                for r in missing:
                    _download(r, folder / r.name)
            except OSError as err:
                why = f"Downloading failed ({err}). "
        still = [r.name for r in remotes if not (folder / r.name).is_file()]
        if still:
            raise _missing_error(dataset, folder, still, why)
    return [folder / r.name for r in remotes]


# --------------------------------------------------------------------------
# MNIST and Fashion-MNIST (IDX files, gzip-compressed)

_MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
_IDX = {
    # name: (file stem, MD5 of the .gz as published, SHA-256 of the decompressed content)
    ("mnist", "train", "images"): ("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                   "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    ("mnist", "train", "labels"): ("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432",
                                   "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    ("mnist", "test", "images"): ("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3",
                                  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    ("mnist", "test", "labels"): ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c",
                                  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ("fashion_mnist", "train", "images"): ("train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                           "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    ("fashion_mnist", "train", "labels"): ("train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe",
                                           "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    ("fashion_mnist", "test", "images"): ("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79",
                                          "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    ("fashion_mnist", "test", "labels"): ("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310",
                                          "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
# Where the content digests come from.  MNIST: the decompressed files whose MD5s this loader checked before
# (6bbc9ace..., a25bea73..., 2646ac64..., 27ae3e4e...).  Fashion-MNIST labels: decompressed from the published .gz
# files (MD5s above) in zalandoresearch/fashion-mnist at commit b2617bb.  Fashion-MNIST images: the Git LFS pointers
# of the decompressed files in Caryox/adversarial-robustness at commit eb0acc0 (torchvision's copies), whose .gz
# pointers carry the SHA-256s that tensorflow-datasets 4.9.10 lists for the published .gz files and whose label
# pointers carry the label digests above.
_IDX_SIZES = {"train": 60000, "test": 10000}


def _parse_idx(raw: bytes, path: Path, expected_n: int) -> np.ndarray:
    """Parse an IDX byte string (uint8 data) and check its header against its length."""
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise CorruptDatasetError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(shape)) or shape[0] != expected_n:
        raise CorruptDatasetError(
            f"{path} holds {len(raw) - offset} bytes for header shape {shape}; expected {expected_n} "
            "items. The file is truncated or wrong; delete it and retry."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _load_idx(name: str, split: str, root: Path, download: bool) -> Dataset:
    folder = root / ("MNIST" if name == "mnist" else "FashionMNIST") / "raw"
    urls = _MNIST_URLS if name == "mnist" else _FASHION_URLS
    parts = {part: _IDX[(name, split, part)] for part in ("images", "labels")}
    remotes = [_Remote(stem + ".gz", tuple(u + stem + ".gz" for u in urls), md5=gz_md5) for stem, gz_md5, _ in parts.values()]
    paths = _ensure(name, folder, remotes, download)
    arrays = {}
    for (part, (_, _, content_sha256)), path in zip(parts.items(), paths):
        raw = _read_gzip(path)
        if hashlib.sha256(raw).hexdigest() != content_sha256:
            raise CorruptDatasetError(
                f"{path}: the decompressed content's SHA-256 is {hashlib.sha256(raw).hexdigest()}, expected "
                f"{content_sha256}. The file is corrupt or not {name}; delete it and retry."
            )
        arrays[part] = _parse_idx(raw, path, _IDX_SIZES[split])
    return Dataset(name, split, arrays["images"].copy(), arrays["labels"].astype(np.int64))


# --------------------------------------------------------------------------
# USPS (LIBSVM text, bzip2)

_USPS = {
    "train": ("usps.bz2", "ec16c51db3855ca6c91edd34d0e9b197", [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]),
    "test": ("usps.t.bz2", "8ea070ee2aca1ac39742fdd1ef5ed118", [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]),
}
_USPS_URL = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"


def _load_usps(name: str, split: str, root: Path, download: bool) -> Dataset:
    from sklearn.datasets import load_svmlight_file

    fname, md5, counts = _USPS[split]
    (path,) = _ensure(name, root / "USPS", [_Remote(fname, (_USPS_URL + fname,), md5)], download)
    try:
        x, y = load_svmlight_file(str(path), n_features=256)
    except (OSError, EOFError, ValueError) as err:
        raise CorruptDatasetError(f"{path} could not be parsed as LIBSVM bzip2 ({err}).") from err
    labels = y.astype(np.int64) - 1
    found = np.bincount(labels, minlength=10).tolist() if labels.min(initial=0) >= 0 else []
    if found != counts:
        raise CorruptDatasetError(
            f"{path}: class counts {found} differ from the official USPS {split} counts {counts}; "
            "the file is truncated or not USPS."
        )
    pixels = np.clip(np.rint((x.toarray() + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return Dataset(name, split, pixels.reshape(-1, 16, 16), labels)


# --------------------------------------------------------------------------
# SVHN (.mat)

_SVHN = {
    "train": ("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", 73257),
    "test": ("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", 26032),
}


def _load_svhn(name: str, split: str, root: Path, download: bool) -> Dataset:
    from scipy.io import loadmat

    fname, md5, n = _SVHN[split]
    url = "http://ufldl.stanford.edu/housenumbers/" + fname
    (path,) = _ensure(name, root / "SVHN", [_Remote(fname, (url,), md5)], download)
    try:
        mat = loadmat(path)
        images = np.ascontiguousarray(mat["X"].transpose(3, 0, 1, 2))
        labels = mat["y"].ravel().astype(np.int64) % 10  # the .mat stores digit 0 as 10
    except Exception as err:  # scipy raises several types on truncated files
        raise CorruptDatasetError(f"{path} could not be read as SVHN .mat ({err}).") from err
    if images.shape != (n, 32, 32, 3) or len(labels) != n:
        raise CorruptDatasetError(f"{path}: images of shape {images.shape}, expected ({n}, 32, 32, 3).")
    return Dataset(name, split, images, labels)


# --------------------------------------------------------------------------
# CIFAR-10 (the python pickle batches, read from the published tar.gz without extracting it)

_CIFAR10 = _Remote("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                   "c58f30108f718f92721af3b95e74349a")
_CIFAR10_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _load_cifar10(name: str, split: str, root: Path, download: bool) -> Dataset:
    import pickle
    import tarfile

    (path,) = _ensure(name, root / "CIFAR10", [_CIFAR10], download)
    images, labels = [], []
    try:
        with tarfile.open(path, "r:gz") as archive:
            for batch in _CIFAR10_BATCHES[split]:
                member = archive.extractfile(f"cifar-10-batches-py/{batch}")
                content = pickle.load(member, encoding="latin1")
                images.append(np.asarray(content["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.append(np.asarray(content["labels"], dtype=np.int64))
    except (OSError, EOFError, KeyError, tarfile.TarError, pickle.UnpicklingError) as err:
        raise CorruptDatasetError(f"{path} could not be read as the CIFAR-10 python archive ({err}).") from err
    labels = np.concatenate(labels)
    expected = 5000 if split == "train" else 1000
    if np.bincount(labels, minlength=10).tolist() != [expected] * 10:
        raise CorruptDatasetError(
            f"{path}: {len(labels)} {split} images, expected {10 * expected} ({expected} per class); "
            "the archive is truncated or not CIFAR-10. Delete it and retry."
        )
    return Dataset(name, split, np.concatenate(images).transpose(0, 2, 3, 1).copy(), labels)


# --------------------------------------------------------------------------
# scikit-learn's bundled digits


def _load_digits(name: str, split: str, root: Path, download: bool) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 -> 0..255
    return Dataset(name, split, images, bunch.target.astype(np.int64), info={"source_range": "0..16"})


# --------------------------------------------------------------------------
# Oxford flowers with foreground masks


def _read_image(path: Path, size: int | None, resample=None):
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB") if resample is None else img
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), resample if resample is not None else Image.BILINEAR)
            return np.asarray(img)
    except OSError as err:
        raise CorruptDatasetError(f"{path} could not be decoded ({err}).") from err


_FLOWERS17_COUNT = 846


def _load_flowers17(name: str, split: str, root: Path, download: bool, image_size: int | None = None) -> Dataset:
    """Oxford-17 images with masks: 1 flower, 3 background, 2 leaves, 4 sky, 5 other, 0 unlabeled."""
    from PIL import Image

    folder = root / "flowers17-seg"
    images_dir, masks_dir = folder / "images", folder / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise _missing_error(
            name, folder, ["images/image_NNNN.jpg", "masks/image_NNNN.png"],
            f"The loader cannot download this copy (the {_FLOWERS17_COUNT} Oxford-17 images that have masks). ",
        )
    jpgs = {p.stem: p for p in images_dir.glob("image_*.jpg")}
    pngs = {p.stem: p for p in masks_dir.glob("image_*.png")}
    unpaired = sorted(set(jpgs) ^ set(pngs))
    if unpaired:
        raise CorruptDatasetError(f"{folder}: images without masks or masks without images: {unpaired[:5]}...")
    if len(jpgs) != _FLOWERS17_COUNT:
        raise CorruptDatasetError(f"{folder}: {len(jpgs)} image/mask pairs, expected {_FLOWERS17_COUNT}.")
    stems = sorted(jpgs)
    numbers = np.array([int(s.split("_")[1]) for s in stems])
    images = np.stack([_read_image(jpgs[s], image_size) for s in stems])
    raw = np.stack([_read_image(pngs[s], image_size, Image.NEAREST) for s in stems])
    masks = np.where(raw == 1, 1, np.where(raw == 0, IGNORE, 0)).astype(np.uint8)
    labels = ((numbers - 1) // 80).astype(np.int64)
    return Dataset(name, split, images, labels, masks=masks, info={"image_numbers": numbers})


def _load_flowers17_patches(name: str, split: str, root: Path, download: bool, image_size: int = 200,
                            patch_size: int = 50) -> Dataset:
    """Square RGB patches cut on a grid from the Oxford-17 images with masks (a stand-in for IDC).

    Every image is resized to ``image_size`` and cut into non-overlapping ``patch_size``
    patches.  A patch is labelled 1 (flower) when more than half of its pixels are
    flower in the mask, else 0; ``groups`` holds the source image number, so that
    splits can keep all patches of one image together (as patient-level splits do on IDC).
    With the defaults: 13,536 patches of 50x50, 23.4% labelled flower.
    """
    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}")
    source = _load_flowers17("flowers17_seg", split, root, download, image_size=image_size)
    g, n = image_size // patch_size, len(source)

    def cut(a):
        a = a.reshape(n, g, patch_size, g, patch_size, *a.shape[3:]).swapaxes(2, 3)
        return np.ascontiguousarray(a.reshape(n * g * g, patch_size, patch_size, *a.shape[5:]))

    masks = cut(source.masks)
    labels = ((masks == 1).mean(axis=(1, 2)) > 0.5).astype(np.int64)
    groups = np.repeat(source.info["image_numbers"], g * g)
    return Dataset(name, split, cut(source.images), labels, groups=groups,
                   info={"image_size": image_size, "patch_size": patch_size, "species": np.repeat(source.labels, g * g)})


_F102_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
_F102_SPLITS = {"train": "trnid", "val": "valid", "test": "tstid"}


def _load_flowers102(name: str, split: str, root: Path, download: bool, image_size: int = 256) -> Dataset:
    """Oxford-102 images with the segmentations of Nilsback & Zisserman (blue = background)."""
    import tarfile

    from PIL import Image
    from scipy.io import loadmat

    folder = root / "flowers-102"
    mats = [
        _Remote("imagelabels.mat", (_F102_URL + "imagelabels.mat",), "e0620be6f572b9609742df49c70aed4d"),
        _Remote("setid.mat", (_F102_URL + "setid.mat",), "a5357ecc9cb78c4bef273ce3793fc85c"),
    ]
    labels_path, setid_path = _ensure(name, folder, mats, download)
    if not (folder / "jpg").is_dir():
        tgz = _Remote("102flowers.tgz", (_F102_URL + "102flowers.tgz",), "52808999861908f626f3c1f4e79d11fa")
        (archive,) = _ensure(name, folder, [tgz], download)
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
    if not (folder / "segmim").is_dir():
        raise _missing_error(
            name, folder, ["segmim/segmim_NNNNN.jpg"],
            "Download 102segmentations.tgz from the Oxford-102 page and extract it here (no published checksum, "
            "so the loader does not fetch it). ",
        )
    all_labels = loadmat(labels_path, squeeze_me=True)["labels"].astype(np.int64) - 1
    setid = loadmat(setid_path, squeeze_me=True)
    keys = _F102_SPLITS.values() if split == "all" else [_F102_SPLITS[split]]
    ids = np.sort(np.concatenate([np.atleast_1d(setid[k]) for k in keys]).astype(np.int64))
    jpgs = [folder / "jpg" / f"image_{i:05d}.jpg" for i in ids]
    segs = [folder / "segmim" / f"segmim_{i:05d}.jpg" for i in ids]
    absent = [str(p.relative_to(folder)) for p in jpgs + segs if not p.is_file()]
    if absent:
        raise _missing_error(name, folder, absent[:10], f"{len(absent)} files of the split are missing. ")
    images = np.stack([_read_image(p, image_size) for p in jpgs])
    seg = np.stack([_read_image(p, image_size, Image.NEAREST).astype(np.int16) for p in segs])
    # The segmentation images paint the background pure blue (0, 0, 254); JPEG blurs it slightly.
    background = (seg[..., 2] > 180) & (seg[..., 0] < 70) & (seg[..., 1] < 70)
    masks = np.where(background, 0, 1).astype(np.uint8)
    return Dataset(name, split, images, all_labels[ids - 1], masks=masks, info={"image_ids": ids})


# --------------------------------------------------------------------------
# Kaggle breast histopathology (IDC) patches, user-supplied

_IDC_TOTAL, _IDC_POSITIVE = 277_524, 78_786
_IDC_NAME = re.compile(r"^(?P<patient>\d+)_idx5_x(?P<x>\d+)_y(?P<y>\d+)_class(?P<c>[01])\.png$")


def _load_idc(name: str, split: str, root: Path, download: bool, strict: bool = True) -> Dataset:
    """IDC patches: ``<root>/IDC/<patient>/<0|1>/<patient>_idx5_xX_yY_classC.png``.

    Patches smaller than 50x50 (at slide borders) are padded with white.
    With ``strict=True`` the total counts must match the published 277,524 patches.
    """
    folder = root / "IDC"
    paths = sorted(folder.glob("*/[01]/*.png")) + sorted(folder.glob("*/*/[01]/*.png"))
    if not paths:
        raise _missing_error(
            name, folder, ["<patient_id>/0/<patient_id>_idx5_x<X>_y<Y>_class0.png",
                           "<patient_id>/1/<patient_id>_idx5_x<X>_y<Y>_class1.png"],
            "Download 'Breast Histopathology Images' (IDC_regular_ps50_idx5) from Kaggle and extract the patient "
            "folders here; the loader cannot download it. ",
        )
    images = np.full((len(paths), 50, 50, 3), 255, dtype=np.uint8)
    labels = np.empty(len(paths), dtype=np.int64)
    groups = np.empty(len(paths), dtype=np.int64)
    for i, path in enumerate(paths):
        match = _IDC_NAME.match(path.name)
        if not match or match["c"] != path.parent.name or match["patient"] != path.parent.parent.name:
            raise CorruptDatasetError(f"{path}: file name and folders disagree with the Kaggle IDC layout.")
        patch = _read_image(path, None)[:50, :50]
        images[i, : patch.shape[0], : patch.shape[1]] = patch
        labels[i], groups[i] = int(match["c"]), int(match["patient"])
    if strict and (len(labels) != _IDC_TOTAL or labels.sum() != _IDC_POSITIVE):
        raise CorruptDatasetError(
            f"{folder}: {len(labels)} patches ({labels.sum()} IDC+), expected {_IDC_TOTAL} ({_IDC_POSITIVE} IDC+). "
            "Some patient folders are missing or extra; pass strict=False to load them anyway."
        )
    return Dataset(name, split, images, labels, groups=groups)


# --------------------------------------------------------------------------
# The deep-learning benchmark of Larochelle et al. (2007): MNIST variations, rectangles, convex

_BENCHMARK_URL = "https://www.iro.umontreal.ca/~lisa/twiki/bin/view.cgi/Public/DeepVsShallowComparisonICML2007"
_BENCHMARKS = {
    # name: (folder, train+valid file, test file, n_train, n_valid, n_test, n_classes)
    "mnist_small": ("mnist", "mnist_train.amat", "mnist_test.amat", 10000, 2000, 50000, 10),
    "mnist_rot": ("mnist_rotation_new", "mnist_all_rotation_normalized_float_train_valid.amat",
                  "mnist_all_rotation_normalized_float_test.amat", 10000, 2000, 50000, 10),
    "mnist_back_rand": ("mnist_background_random", "mnist_background_random_train.amat",
                        "mnist_background_random_test.amat", 10000, 2000, 50000, 10),
    "mnist_back_img": ("mnist_background_images", "mnist_background_images_train.amat",
                       "mnist_background_images_test.amat", 10000, 2000, 50000, 10),
    "mnist_rot_img": ("mnist_rotation_back_image_new", "mnist_all_background_images_rotation_normalized_train_valid.amat",
                      "mnist_all_background_images_rotation_normalized_test.amat", 10000, 2000, 50000, 10),
    "rectangles": ("rectangles", "rectangles_train.amat", "rectangles_test.amat", 1000, 200, 50000, 2),
    "rectangles_img": ("rectangles_images", "rectangles_im_train.amat", "rectangles_im_test.amat", 10000, 2000, 50000, 2),
    "convex": ("convex", "convex_train.amat", "convex_test.amat", 6000, 2000, 50000, 2),
}


def _load_benchmark(name: str, split: str, root: Path, download: bool) -> Dataset:
    """One of the ``.amat`` sets of the deep-learning benchmark: 784 pixel values in [0, 1], then the label.

    The train file holds the training rows followed by the validation rows (the benchmark's split).
    """
    folder_name, train_file, test_file, n_train, n_valid, n_test, n_classes = _BENCHMARKS[name]
    folder = root / "larochelle2007" / folder_name
    fname = test_file if split == "test" else train_file
    if not (folder / fname).is_file():
        raise _missing_error(
            name, folder, [fname],
            f"Download the zip of this set from the page of the deep-learning benchmark ({_BENCHMARK_URL}) and "
            "extract it here; the loader cannot download it (no published checksum). ")
    try:
        table = np.loadtxt(folder / fname, dtype=np.float32)
    except ValueError as err:
        raise CorruptDatasetError(f"{folder / fname} could not be parsed as .amat text ({err}).") from err
    expected = n_test if split == "test" else n_train + n_valid
    if table.ndim != 2 or table.shape != (expected, 785):
        raise CorruptDatasetError(f"{folder / fname}: table of shape {table.shape}, expected ({expected}, 785).")
    labels = table[:, -1].astype(np.int64)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise CorruptDatasetError(f"{folder / fname}: labels outside 0..{n_classes - 1}.")
    images = np.clip(np.rint(table[:, :-1] * 255.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    rows = {"train": slice(0, n_train), "val": slice(n_train, None), "test": slice(None)}[split]
    return Dataset(name, split, images[rows], labels[rows])


# --------------------------------------------------------------------------
# The registry

DATASETS = {
    "mnist": (_load_idx, ("train", "test")),
    "fashion_mnist": (_load_idx, ("train", "test")),
    "usps": (_load_usps, ("train", "test")),
    "svhn": (_load_svhn, ("train", "test")),
    "cifar10": (_load_cifar10, ("train", "test")),
    "digits": (_load_digits, ()),
    "flowers17_seg": (_load_flowers17, ()),
    "flowers17_patches": (_load_flowers17_patches, ()),
    "flowers102_seg": (_load_flowers102, ("train", "val", "test")),
    "idc": (_load_idc, ()),
    **{name: (_load_benchmark, ("train", "val", "test")) for name in _BENCHMARKS},
}
"""Dataset name -> (loader, splits); every dataset also has the split ``"all"``."""


def _concat(parts: list[Dataset], name: str) -> Dataset:
    def cat(attr):
        values = [getattr(p, attr) for p in parts]
        return None if values[0] is None else np.concatenate(values)

    return Dataset(name, "all", cat("images"), cat("labels"), cat("masks"), cat("groups"))


def _options(loader) -> list[str]:
    """The options a loader takes beyond ``(name, split, root, download)``."""
    return list(inspect.signature(loader).parameters)[4:]


def load(name: str, split: str = "all", root: str | os.PathLike | None = None, download: bool = True, **options) -> Dataset:
    """Load one split of a dataset.

    Parameters
    ----------
    name:
        One of ``DATASETS``: mnist, fashion_mnist, usps, svhn, cifar10, digits, flowers17_seg,
        flowers17_patches (labelled 50x50 patches of flowers17_seg, grouped by image), flowers102_seg, idc, and the deep-learning benchmark sets of Larochelle et al. (2007):
        mnist_small, mnist_rot, mnist_back_rand, mnist_back_img, mnist_rot_img, rectangles,
        rectangles_img, convex (user-supplied ``.amat`` files under ``larochelle2007/``).
    split:
        ``"train"``, ``"test"`` (``"val"`` for flowers102_seg and the benchmark sets) or
        ``"all"``; ``"all"`` concatenates the dataset's splits in that order (train then
        test), the protocol of the clustering papers.
    root:
        Data root; default :func:`data_root`.
    download:
        Fetch missing files where a checksummed source exists.
    options:
        Loader options: ``image_size`` (flowers), ``patch_size`` (flowers17_patches), ``strict`` (idc).

    Raises
    ------
    ValueError
        Unknown dataset or split (the message lists the valid ones).
    DatasetNotFoundError
        Files missing and not downloadable; the message names the files and folder.
    CorruptDatasetError
        Files present but truncated or wrong.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; valid names: {', '.join(DATASETS)}.")
    loader, splits = DATASETS[name]
    valid = (*splits, "all")
    if split not in valid:
        raise ValueError(f"Dataset {name!r} has no split {split!r}; valid splits: {', '.join(valid)}.")
    accepted = _options(loader)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"Dataset {name!r} takes no option {', '.join(map(repr, unknown))}"
                         + (f"; its options: {', '.join(accepted)}." if accepted else "; it takes no options.")
                         + " (A notebook's dataset parameter must name a dataset of the kind the notebook uses.)")
    base = data_root(root)
    if split == "all" and splits and loader is not _load_flowers102:  # flowers102 reads "all" from setid.mat
        return _concat([loader(name, s, base, download, **options) for s in splits], name)
    return loader(name, split, base, download, **options)


def load_split(name: str, root: str | os.PathLike | None = None, *, seed: int = 0, test_fraction: float = 1 / 7,
               download: bool = True, **options) -> tuple[Dataset, Dataset]:
    """``(train, test)`` of a labelled dataset: its own ``"train"``/``"test"`` split when it has one.

    A dataset without one (``digits``, ``flowers17_seg``, ``idc``, ...) is split here: a seeded, stratified
    ``test_fraction`` of ``"all"`` is the test set (MNIST's 10,000 of 70,000 is 1/7).  The split's name
    says which: ``"train"``/``"test"`` or ``"train (seeded 1/7 split)"``/``"test (seeded 1/7 split)"``.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; valid names: {', '.join(DATASETS)}.")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if {"train", "test"} <= set(DATASETS[name][1]):
        return (load(name, "train", root, download, **options), load(name, "test", root, download, **options))
    from sklearn.model_selection import train_test_split

    data = load(name, "all", root, download, **options)
    train_idx, test_idx = train_test_split(np.arange(len(data)), test_size=test_fraction, random_state=seed,
                                           stratify=data.labels)
    label = f"seeded 1/{round(1 / test_fraction)} split" if abs(1 / test_fraction - round(1 / test_fraction)) < 1e-9 \
        else f"seeded {test_fraction:.0%} split"

    def part(index, split):
        pick = lambda a: None if a is None else a[np.sort(index)]  # noqa: E731
        return Dataset(name, f"{split} ({label})", pick(data.images), pick(data.labels), pick(data.masks),
                       pick(data.groups), dict(data.info))

    return part(train_idx, "train"), part(test_idx, "test")


def from_arrays(images, labels=None, name: str = "mine", split: str = "all") -> Dataset:
    """Your own data as a :class:`Dataset`: ``images`` ``(N, H, W)`` grey or ``(N, H, W, 3)`` colour.

    ``images`` may be uint8 (0-255) or floats in [0, 1] (scaled to uint8, as every loader stores them);
    ``labels`` (optional, for scoring only) are integers, one per image; without labels every label is 0.
    Raises ``ValueError`` for other shapes, floats outside [0, 1], or a label count that does not match.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3) or len(images) == 0:
        raise ValueError(f"images must be (N, H, W) or (N, H, W, 3) and not empty, got shape {images.shape}")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating) or images.min() < 0 or images.max() > 1:
            raise ValueError("images must be uint8 (0-255) or floats in [0, 1]")
        images = np.rint(images * 255).astype(np.uint8)
    labels = np.zeros(len(images), np.int64) if labels is None else np.asarray(labels).astype(np.int64)
    if labels.shape != (len(images),):
        raise ValueError(f"expected {len(images)} labels, got shape {labels.shape}")
    return Dataset(name, split, images, labels, info={"source": "arrays"})


def from_folder(folder: str | os.PathLike, image_size: int | None = None, name: str | None = None,
                grey: bool = False) -> Dataset:
    """A folder of images as a :class:`Dataset`: one subfolder per class (its name is the class), or images
    directly in ``folder`` (no labels: every label 0).

    Reads ``.png``, ``.jpg``/``.jpeg``, ``.bmp`` and ``.tif`` files in sorted order, resized to
    ``image_size`` x ``image_size`` when given (they must then share one size), as RGB or, with ``grey``,
    greyscale.  ``info["classes"]`` lists the class names in label order.  Raises
    :class:`DatasetNotFoundError` when the folder holds no image, ``CorruptDatasetError`` for an image
    that does not decode, and ``ValueError`` for images of different sizes without ``image_size``.
    """
    from PIL import Image

    folder = Path(folder).expanduser()
    suffixes = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
    sources = [(d, i) for i, d in enumerate(classes)] if classes else [("", 0)]
    files = [(f, label) for d, label in sources for f in sorted((folder / d).iterdir())
             if f.is_file() and f.suffix.lower() in suffixes] if folder.is_dir() else []
    if not files:
        raise DatasetNotFoundError(f"no images ({', '.join(sorted(suffixes))}) in {folder}"
                                   + (" or its class subfolders" if classes else ""))
    images = []
    for path, _ in files:
        image = _read_image(path, image_size, resample=None)
        images.append(np.asarray(Image.fromarray(image).convert("L")) if grey else image)
    if len({im.shape for im in images}) > 1:
        raise ValueError(f"the images in {folder} have different sizes; pass image_size to resize them")
    return Dataset(name or folder.name, "all", np.stack(images), np.array([lab for _, lab in files], np.int64),
                   info={"source": str(folder), "classes": classes})
