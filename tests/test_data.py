import bz2
import gzip
import hashlib
import shutil
import time

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from clustutils import data
from clustutils.data import CorruptDatasetError, DatasetNotFoundError, load


# ---------------------------------------------------------------- real data in ../shared/data

def test_mnist_test_split_from_shared_data(shared_data):
    ds = load("mnist", "test", root=shared_data)
    assert ds.images.shape == (10000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(ds.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_all_concatenates_train_then_test(shared_data):
    ds = load("mnist", "all", root=shared_data)
    assert len(ds) == 70000
    assert ds.labels[-5:].tolist() == load("mnist", "test", root=shared_data).labels[-5:].tolist()
    x = ds.features()
    assert x.shape == (70000, 784) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0


def test_data_root_from_environment(shared_data, monkeypatch):
    monkeypatch.setenv("CLUSTUTILS_DATA", str(shared_data))
    assert data.data_root() == shared_data
    assert len(load("mnist", "test")) == 10000


def test_usps_official_counts_and_pixel_range(shared_data):
    train, test = load("usps", "train", root=shared_data), load("usps", "test", root=shared_data)
    assert train.images.shape == (7291, 16, 16) and len(test) == 2007
    assert train.images.min() == 0 and train.images.max() == 255
    assert np.bincount(test.labels).tolist() == [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]


def test_flowers17_masks_are_binary_with_ignore(shared_data):
    ds = load("flowers17_seg", root=shared_data, image_size=64)
    assert ds.images.shape == (846, 64, 64, 3) and ds.masks.shape == (846, 64, 64)
    assert set(np.unique(ds.masks).tolist()) == {0, 1, data.IGNORE}
    numbers = ds.info["image_numbers"]
    assert (ds.labels == (numbers - 1) // 80).all() and ds.labels.max() == 16


def test_tensors_are_channel_first(shared_data):
    x, y = load("usps", "test", root=shared_data).tensors()
    assert tuple(x.shape) == (2007, 1, 16, 16) and float(x.max()) == 1.0 and len(y) == 2007


# ---------------------------------------------------------------- errors users see

def test_unknown_name_and_split_list_valid_ones():
    with pytest.raises(ValueError, match="valid names: mnist, fashion_mnist"):
        load("cifar11", "train")
    with pytest.raises(ValueError, match="valid splits: train, test, all"):
        load("mnist", "validation")
    with pytest.raises(ValueError, match="valid splits: all"):
        load("digits", "train")


def test_offline_empty_root_fails_fast_naming_files(tmp_path):
    start = time.perf_counter()
    with pytest.raises(DatasetNotFoundError) as err:
        load("mnist", "test", root=tmp_path)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "t10k-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message


def test_download_false_names_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="usps.t.bz2"):
        load("usps", "test", root=tmp_path, download=False)


def test_truncated_gzip_is_an_error(shared_data, tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    shutil.copytree(shared_data / "MNIST" / "raw", folder)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: 100_000])
    with pytest.raises(CorruptDatasetError, match="not a complete gzip"):
        load("mnist", "test", root=tmp_path)


def test_modified_mnist_content_fails_checksum(shared_data, tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    shutil.copytree(shared_data / "MNIST" / "raw", folder)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(CorruptDatasetError, match="SHA-256"):
        load("mnist", "test", root=tmp_path)


def test_truncated_usps_is_an_error(shared_data, tmp_path):
    (tmp_path / "USPS").mkdir()
    lines = bz2.decompress((shared_data / "USPS" / "usps.t.bz2").read_bytes()).splitlines(keepends=True)
    (tmp_path / "USPS" / "usps.t.bz2").write_bytes(bz2.compress(b"".join(lines[:-10])))
    with pytest.raises(CorruptDatasetError, match="class counts"):
        load("usps", "test", root=tmp_path)


# ---------------------------------------------------------------- downloads (file:// sources)

def test_download_verifies_checksum(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"payload")
    good = data._Remote("f.bin", (source.as_uri(),), hashlib.md5(b"payload").hexdigest())
    data._download(good, tmp_path / "out" / "f.bin")
    assert (tmp_path / "out" / "f.bin").read_bytes() == b"payload"
    bad = data._Remote("g.bin", (source.as_uri(),), "0" * 32)
    with pytest.raises(OSError, match="checksum mismatch"):
        data._download(bad, tmp_path / "out" / "g.bin")
    assert not (tmp_path / "out" / "g.bin").exists()


# ---------------------------------------------------------------- loaders tested on fixture files

def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_fashion_mnist_fixture(tmp_path, monkeypatch):
    monkeypatch.setitem(data._IDX_SIZES, "test", 12)
    folder = tmp_path / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    images = np.arange(12 * 28 * 28).reshape(12, 28, 28) % 256
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images)))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.arange(12) % 10)))
    for part in ("images", "labels"):  # this fixture's files stand for the published ones
        stem, gz_md5, _ = data._IDX[("fashion_mnist", "test", part)]
        content = hashlib.sha256(gzip.decompress((folder / f"{stem}.gz").read_bytes())).hexdigest()
        monkeypatch.setitem(data._IDX, ("fashion_mnist", "test", part), (stem, gz_md5, content))
    ds = load("fashion_mnist", "test", root=tmp_path)
    assert (ds.images == images).all() and ds.labels.tolist() == (np.arange(12) % 10).tolist()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.arange(11) % 10)))
    with pytest.raises(CorruptDatasetError, match="SHA-256"):  # a truncated file is not the published one
        load("fashion_mnist", "test", root=tmp_path)


def test_svhn_fixture_maps_label_10_to_0(tmp_path, monkeypatch):
    monkeypatch.setitem(data._SVHN, "test", ("test_32x32.mat", None, 5))
    (tmp_path / "SVHN").mkdir()
    x = np.random.default_rng(0).integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)
    savemat(tmp_path / "SVHN" / "test_32x32.mat", {"X": x, "y": np.array([[10], [1], [2], [10], [9]])})
    ds = load("svhn", "test", root=tmp_path)
    assert ds.images.shape == (5, 32, 32, 3) and (ds.images[1] == x[..., 1]).all()
    assert ds.labels.tolist() == [0, 1, 2, 0, 9]


def test_digits_scaled_to_bytes():
    ds = load("digits")
    assert ds.images.shape == (1797, 8, 8) and ds.images.max() == 255 and len(set(ds.labels)) == 10


def test_flowers102_fixture(tmp_path):
    folder = tmp_path / "flowers-102"
    (folder / "jpg").mkdir(parents=True)
    (folder / "segmim").mkdir()
    savemat(folder / "imagelabels.mat", {"labels": np.array([[5, 7, 7, 1]])})
    savemat(folder / "setid.mat", {"trnid": np.array([[1, 3]]), "valid": np.array([[2]]), "tstid": np.array([[4]])})
    for i in range(1, 5):
        Image.fromarray(np.full((40, 60, 3), 120, np.uint8)).save(folder / "jpg" / f"image_{i:05d}.jpg")
        seg = np.zeros((40, 60, 3), np.uint8)
        seg[..., 2] = 254  # blue background
        seg[10:30, 20:40] = (200, 40, 90)  # the flower
        Image.fromarray(seg).save(folder / "segmim" / f"segmim_{i:05d}.jpg", quality=95)
    train = data.load("flowers102_seg", "train", root=tmp_path, image_size=32)
    assert train.labels.tolist() == [4, 6] and train.images.shape == (2, 32, 32, 3)
    assert train.masks[0, 16, 16] == 1 and train.masks[0, 2, 2] == 0
    assert len(data.load("flowers102_seg", "all", root=tmp_path, image_size=32)) == 4
    (folder / "segmim" / "segmim_00004.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match="segmim_00004.jpg"):
        data.load("flowers102_seg", "test", root=tmp_path)


def _idc_patch(folder, patient, x, y, label, size=(50, 50)):
    path = folder / str(patient) / str(label) / f"{patient}_idx5_x{x}_y{y}_class{label}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size + (3,), 100 + label, np.uint8)).save(path)


def test_idc_fixture_labels_groups_and_padding(tmp_path):
    folder = tmp_path / "IDC"
    _idc_patch(folder, 8863, 1, 1, 0)
    _idc_patch(folder, 8863, 51, 1, 1, size=(30, 50))
    _idc_patch(folder, 10253, 1, 51, 1)
    with pytest.raises(CorruptDatasetError, match="expected 277524"):
        load("idc", root=tmp_path)
    ds = load("idc", root=tmp_path, strict=False)
    assert ds.images.shape == (3, 50, 50, 3)
    assert sorted(zip(ds.groups.tolist(), ds.labels.tolist())) == [(8863, 0), (8863, 1), (10253, 1)]
    padded = ds.images[(ds.groups == 8863) & (ds.labels == 1)][0]
    assert (padded[29, :, 0] == 101).all() and (padded[30:, :, :] == 255).all()


def test_idc_absent_explains_kaggle_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="Kaggle"):
        load("idc", root=tmp_path)


def test_benchmark_amat_fixture_splits_train_val_test(tmp_path, monkeypatch):
    monkeypatch.setitem(data._BENCHMARKS, "rectangles", ("rectangles", "rectangles_train.amat", "rectangles_test.amat", 4, 2, 3, 2))
    folder = tmp_path / "larochelle2007" / "rectangles"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for fname, n in (("rectangles_train.amat", 6), ("rectangles_test.amat", 3)):
        table = np.hstack([rng.random((n, 784)).round(4), (np.arange(n) % 2)[:, None]])
        np.savetxt(folder / fname, table, fmt="%.4f")
    assert [len(load("rectangles", s, root=tmp_path)) for s in ("train", "val", "test", "all")] == [4, 2, 3, 9]
    ds = load("rectangles", "val", root=tmp_path)
    assert ds.images.shape == (2, 28, 28) and ds.labels.tolist() == [0, 1]
    (folder / "rectangles_test.amat").write_text("0.5 0.5 1\n")
    with pytest.raises(CorruptDatasetError, match="expected"):
        load("rectangles", "test", root=tmp_path)


def test_benchmark_absent_says_where_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="mnist_all_rotation_normalized_float_test.amat") as err:
        load("mnist_rot", "test", root=tmp_path)
    assert "deep-learning benchmark" in str(err.value) and "larochelle2007" in str(err.value)


def _cifar_archive(path, n_per_class):
    import io
    import pickle
    import tarfile

    n = 10 * n_per_class
    pixels = np.zeros((n, 3072), dtype=np.uint8)
    pixels[:, 0] = np.arange(n) % 256  # red channel, row 0, column 0
    pixels[:, 1] = 9  # red channel, row 0, column 1
    pixels[:, 1024] = 7  # green channel, row 0, column 0
    batch = pickle.dumps({"data": pixels, "labels": (np.arange(n) % 10).tolist()})
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(batch)
        archive.addfile(info, io.BytesIO(batch))


def test_cifar10_reads_the_python_archive_channels_last(tmp_path):
    (tmp_path / "CIFAR10").mkdir()
    _cifar_archive(tmp_path / "CIFAR10" / "cifar-10-python.tar.gz", 1000)
    ds = load("cifar10", "test", root=tmp_path, download=False)
    assert ds.images.shape == (10000, 32, 32, 3) and np.bincount(ds.labels).tolist() == [1000] * 10
    assert ds.images[300, 0, 0, 0] == 300 % 256 and ds.images[5, 0, 0, 1] == 7 and ds.images[5, 0, 1, 0] == 9
    _cifar_archive(tmp_path / "CIFAR10" / "cifar-10-python.tar.gz", 999)
    with pytest.raises(CorruptDatasetError, match="expected 10000"):
        load("cifar10", "test", root=tmp_path, download=False)


def test_cifar10_absent_names_the_archive(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz"):
        load("cifar10", "train", root=tmp_path, download=False)


def test_a_data_root_that_is_a_file_is_refused(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "data.txt"
    not_a_folder.write_text("")
    monkeypatch.setenv("CLUSTUTILS_DATA", str(not_a_folder))
    with pytest.raises(NotADirectoryError, match=r"data.txt \(from \$CLUSTUTILS_DATA\) is a file"):
        data.data_root()


def test_one_changed_pixel_of_mnist_is_caught_by_the_content_checksum(shared_data, tmp_path):
    import gzip
    import shutil

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_data / "MNIST" / "raw" / name, raw / name)
    assert len(data.load("mnist", "test", root=tmp_path, download=False)) == 10_000  # an untouched copy loads
    content = bytearray(gzip.decompress((raw / "t10k-images-idx3-ubyte.gz").read_bytes()))
    content[16 + 28 * 14 + 14] ^= 0xFF  # one pixel in the middle of the first digit
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(content)))  # re-compressed: still a valid .gz
    with pytest.raises(data.CorruptDatasetError, match="decompressed content's SHA-256"):
        data.load("mnist", "test", root=tmp_path, download=False)


def test_load_split_uses_the_datasets_own_split_or_a_seeded_stratified_one():
    train, test = data.load_split("digits", seed=3)
    assert (train.split, test.split) == ("train (seeded 1/7 split)", "test (seeded 1/7 split)")
    assert len(train) + len(test) == 1797 and abs(len(test) - 1797 / 7) < 1
    assert np.bincount(test.labels).min() >= 25  # stratified: every digit in the test set
    again, _ = data.load_split("digits", seed=3)
    assert np.array_equal(train.labels, again.labels)
    other, _ = data.load_split("digits", seed=4)
    assert not np.array_equal(train.images, other.images)
    with pytest.raises(ValueError, match="test_fraction"):
        data.load_split("digits", test_fraction=1.5)


def test_load_split_of_mnist_is_its_own(shared_data):
    train, test = data.load_split("mnist", shared_data)
    assert (len(train), len(test), train.split, test.split) == (60000, 10000, "train", "test")


def test_the_api_page_lists_every_dataset_with_its_splits():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "book" / "api" / "data.md").read_text()
    for name, (_, splits) in data.DATASETS.items():
        assert f"| `{name}` | {', '.join(splits) or '(none: `load_split` splits it)'}, all |" in page, name


def test_own_arrays_and_folders_become_datasets(tmp_path):
    ds = data.from_arrays(np.random.default_rng(0).random((5, 4, 4)), [0, 1, 0, 1, 1], name="toy")
    assert ds.images.dtype == np.uint8 and ds.features().shape == (5, 16) and ds.features().max() <= 1
    with pytest.raises(ValueError, match="floats in \\[0, 1\\]"):
        data.from_arrays(np.full((2, 4, 4), 3.0))
    with pytest.raises(ValueError, match="expected 2 labels"):
        data.from_arrays(np.zeros((2, 4, 4), np.uint8), [0])
    for label, colour in (("cats", 30), ("dogs", 200)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((6, 6, 3), colour + i, np.uint8)).save(tmp_path / label / f"{i}.png")
    ds = data.from_folder(tmp_path, grey=True)
    assert ds.images.shape == (6, 6, 6) and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.info["classes"] == ["cats", "dogs"] and ds.images[4, 0, 0] == 201
    assert data.from_folder(tmp_path, image_size=3).images.shape == (6, 3, 3, 3)
    with pytest.raises(data.DatasetNotFoundError, match="no images"):
        data.from_folder(tmp_path / "cats" / "missing")



def test_fashion_mnist_files_are_verified_by_their_decompressed_content(tmp_path, monkeypatch):
    """A blanked image file or a changed label file fails the content digest, re-compressed or not; before, both loaded
    silently once their header and size were right."""
    monkeypatch.setitem(data._IDX_SIZES, "test", 12)
    folder = tmp_path / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros((12, 28, 28)))))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.arange(12) % 10)))
    with pytest.raises(CorruptDatasetError, match="t10k-images.*decompressed content's SHA-256 .* expected 5b4141f0"):
        load("fashion_mnist", "test", root=tmp_path, download=False)
    stem, gz_md5, _ = data._IDX[("fashion_mnist", "test", "images")]
    blank = hashlib.sha256(gzip.decompress((folder / f"{stem}.gz").read_bytes())).hexdigest()
    monkeypatch.setitem(data._IDX, ("fashion_mnist", "test", "images"), (stem, gz_md5, blank))  # as if published
    with pytest.raises(CorruptDatasetError, match="t10k-labels.*expected 0402a96d"):
        load("fashion_mnist", "test", root=tmp_path, download=False)


def test_an_option_the_dataset_does_not_take_is_refused_naming_its_options():
    with pytest.raises(ValueError, match=r"'digits' takes no option 'image_size'; it takes no options"):
        load("digits", image_size=64)
    with pytest.raises(ValueError, match=r"'flowers17_seg' takes no option 'strict'; its options: image_size"):
        load("flowers17_seg", strict=True)
