#!/usr/bin/env python3
"""Regenerates reference digests with independent implementations: Python's hashlib
for SHA-256 and libtorrent (pip install libtorrent) for the BEP 52 pieces root.

File content of size n: byte i is (i * 31 + (i >> 8)) & 0xff.
Run: python3 generate.py > reference.json
"""
import base64
import hashlib
import json
import os
import sys
import tempfile

import libtorrent as lt

SIZES = [1, 16383, 16384, 16385, 32768, 3 * 1024 * 1024, 5_000_000, 7 * 1024 * 1024 + 12345]


def content(n):
    return bytes(((i * 31 + (i >> 8)) & 0xFF) for i in range(n))


def main():
    out = []
    with tempfile.TemporaryDirectory() as d:
        for n in SIZES:
            path = os.path.join(d, f"f{n}")
            data = content(n)
            with open(path, "wb") as f:
                f.write(data)
            fs = lt.file_storage()
            lt.add_files(fs, path)
            t = lt.create_torrent(fs, 0, lt.create_torrent.v2_only)
            lt.set_piece_hashes(t, d)
            info = lt.torrent_info(t.generate())
            root = info.files().root(0)
            sha = hashlib.sha256(data).digest()
            out.append({
                "size": n,
                "sha256": sha.hex(),
                "repr_digest": "sha-256=:" + base64.b64encode(sha).decode() + ":",
                "root": root.to_bytes().hex(),
                "info_hash": sha[:20].hex(),
                "generator": "hashlib " + sys.version.split()[0] + ", libtorrent " + lt.__version__,
            })
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
