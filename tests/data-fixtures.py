#!/usr/bin/env python3
"""Write the small datasets the train and eval suites use, into the current
directory: a Fashion-MNIST slice in IDX files (images raw, labels gzip), a
learnable synthetic CIFAR-10 release (tar.gz and directory), and one broken
copy per kind of bad input. Usage: fixtures-data.py FASHION_MNIST_DIR"""
import gzip
import io
import os
import random
import struct
import sys
import tarfile

src = sys.argv[1]


def read_idx(name, n):
    with gzip.open(os.path.join(src, name), "rb") as f:
        hdr = f.read(16 if "images" in name else 8)
        rec = 28 * 28 if "images" in name else 1
        return hdr, f.read(n * rec)


def idx(magic, dims, body):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + body


def write(path, data, gz=False):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


NTR, NTE = 1200, 400
_, tri = read_idx("train-images-idx3-ubyte.gz", NTR)
_, trl = read_idx("train-labels-idx1-ubyte.gz", NTR)
_, tei = read_idx("t10k-images-idx3-ubyte.gz", NTE)
_, tel = read_idx("t10k-labels-idx1-ubyte.gz", NTE)


def idx_dir(d, tri=tri, trl=trl, img_magic=0x803, lab_magic=0x801, nlab=None):
    n = len(tri) // 784
    write(d + "/train-images-idx3-ubyte", idx(img_magic, [n, 28, 28], tri))
    write(d + "/train-labels-idx1-ubyte.gz", idx(lab_magic, [nlab if nlab is not None else len(trl)], trl), gz=True)
    write(d + "/t10k-images-idx3-ubyte.gz", idx(0x803, [NTE, 28, 28], tei), gz=True)
    write(d + "/t10k-labels-idx1-ubyte", idx(0x801, [NTE], tel))


idx_dir("slice")
idx_dir("bad-magic", img_magic=0x00000802)
idx_dir("bad-count", nlab=NTR - 1, trl=trl[:-1])
idx_dir("bad-range", trl=trl[:7] + bytes([12]) + trl[8:])
idx_dir("bad-gzip")
p = "bad-gzip/train-labels-idx1-ubyte.gz"
raw = bytearray(open(p, "rb").read())
raw[30:60] = b"\xff" * 30
open(p, "wb").write(bytes(raw))
idx_dir("bad-trunc")
p = "bad-trunc/t10k-images-idx3-ubyte.gz"
raw = open(p, "rb").read()
open(p, "wb").write(raw[: len(raw) // 2])
idx_dir("no-test")
os.remove("no-test/t10k-labels-idx1-ubyte")

# CIFAR-10 shaped data that can be learned, whatever the crops and flips:
# class k brightens colour plane k % 3 by 50 * (1 + k // 3) over noise.
rng = random.Random(7)
MOD40 = bytes(i % 40 for i in range(256))


def cifar_records(n):
    out = bytearray()
    for _ in range(n):
        k = rng.randrange(10)
        img = bytearray(rng.randbytes(3072).translate(MOD40))
        c, add = k % 3, 50 * (1 + k // 3)
        for i in range(c * 1024, c * 1024 + 1024):
            img[i] += add
        out.append(k)
        out += img
    return bytes(out)


batches = {"data_batch_1.bin": cifar_records(300), "data_batch_2.bin": cifar_records(200),
           "test_batch.bin": cifar_records(200)}


def cifar_tar(path, batches, damage=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
        names = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
        ti.size = len(names)
        t.addfile(ti, io.BytesIO(names))
        for name in sorted(batches, reverse=True):
            ti = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            ti.size = len(batches[name])
            t.addfile(ti, io.BytesIO(batches[name]))
    raw = bytearray(buf.getvalue())
    if damage:   # the second member's header: its checksum no longer holds
        raw[1024 + 100:1024 + 108] = b"9999999\0"
    write(path, bytes(raw), gz=True)


cifar_tar("cifar.tar.gz", batches)
for name, b in batches.items():
    write("cifar-dir/" + name, b)
cifar_tar("cifar-damaged.tar.gz", batches, damage=True)
raw = open("cifar.tar.gz", "rb").read()
open("cifar-trunc.tar.gz", "wb").write(raw[: len(raw) // 2])
cifar_tar("cifar-notest.tar.gz", {k: v for k, v in batches.items() if k != "test_batch.bin"})
odd = dict(batches)
odd["data_batch_2.bin"] = batches["data_batch_2.bin"][:-100]
cifar_tar("cifar-odd.tar.gz", odd)
