"""Training data: the Python installation's own .py files (standard library, site-packages, torch).

Files are named by their path below the root that holds them, taken in sorted order of the names and split by
file: a file is held out when the sha256 of its name, read as a number, is 0 mod HOLDOUT_EVERY (with
split="path", all of this by the real path instead of the name). Each split is the
files' bytes joined by a blank line. The digest of the file list (name, size) and of the bytes read are recorded
with every result, so a run says what it saw.
"""
import hashlib
import json
import os
import site
import sys
import sysconfig

import numpy as np

HOLDOUT_EVERY = 50          # 2% of the files are held out
MAX_FILE_BYTES = 1 << 20    # larger .py files are generated tables, not code: skipped
SEPARATOR = b"\n\n"


def python_roots():
    paths = sysconfig.get_paths()   # not sys.prefix itself: that is /usr on Debian, with far more than Python in it
    roots = [paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    try:
        roots += site.getsitepackages()
    except AttributeError:   # virtualenvs of old Pythons
        pass
    try:
        import torch
        roots.append(os.path.dirname(os.path.dirname(torch.__file__)))
    except ImportError:
        pass
    return sorted({os.path.realpath(r) for r in roots if r and os.path.isdir(r)})


def list_files(roots):
    """[(name, real path, size)] of the .py files under roots, sorted by name, each real file once. A file's name is
    its path below the deepest root that holds it ("json/decoder.py", "torch/nn/functional.py"), so the same file
    has the same name, and the same split, on every machine."""
    seen = set()
    files = []
    for root in sorted(roots, key=len, reverse=True):   # deepest first: a nested root names its own files
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fname in sorted(filenames):
                if not fname.endswith(".py"):
                    continue
                walked = os.path.join(dirpath, fname)
                path = os.path.realpath(walked)
                if path in seen or not os.path.isfile(path):
                    continue
                seen.add(path)
                size = os.path.getsize(path)
                if 0 < size <= MAX_FILE_BYTES:
                    files.append((os.path.relpath(walked, root), path, size))
    return sorted(files)


# A file's key decides its order, its side of the split and its line in the list's digest: its name (the default:
# the same on every machine) or its real path (how the first H200 checkpoints were made; eval.py reads which from
# the checkpoint, so a model is always scored on its own held-out files).
SPLIT_KEYS = {"name": 0, "path": 1}


def split_key(split):
    if split not in SPLIT_KEYS:
        raise ValueError("split = %r: must be one of %s" % (split, sorted(SPLIT_KEYS)))
    return SPLIT_KEYS[split]


def split_of(info):
    """The split a run's data info records (checkpoints from before "split_by" was written split by real path)."""
    split = info.get("split_by") or ("path" if "real path" in info.get("split", "") else None)
    if split is None:
        raise ValueError("data info %s: says nothing of how the files were split" % sorted(info))
    return split


def is_held_out(key):
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % HOLDOUT_EVERY == 0


def file_list_digest(files, split="name"):
    i = split_key(split)
    h = hashlib.sha256()
    for f in files:
        h.update(("%s\t%d\n" % (f[i], f[2])).encode())
    return h.hexdigest()


def load_corpus(roots=None, cache_dir=None, log=print, split="name"):
    """Returns (train uint8 array, held-out uint8 array, info dict, list_files' list in the split key's order). With
    cache_dir, the arrays are kept there under the file list's digest, so a second run on the same machine skips
    reading the files."""
    key = split_key(split)
    roots = python_roots() if roots is None else sorted(os.path.realpath(r) for r in roots)
    files = sorted(list_files(roots), key=lambda f: (f[key], f))
    if not files:
        raise ValueError("roots %s: no .py files found" % roots)
    digest = file_list_digest(files, split)
    if cache_dir:
        cached = os.path.join(cache_dir, "corpus-%s-%s" % (split, digest[:16]))
        if os.path.exists(cached + ".json"):
            with open(cached + ".json") as fh:
                info = json.load(fh)
            log("corpus: cached %s (%d files)" % (cached, info["files"]))
            return np.load(cached + ".train.npy"), np.load(cached + ".heldout.npy"), info, files
    parts = {False: [], True: []}
    content = hashlib.sha256()
    held = 0
    for f in files:
        with open(f[1], "rb") as fh:
            data = fh.read()
        content.update(data)
        h = is_held_out(f[key])
        held += h
        parts[h].append(data)
    train = np.frombuffer(SEPARATOR.join(parts[False]), dtype=np.uint8)
    heldout = np.frombuffer(SEPARATOR.join(parts[True]), dtype=np.uint8)
    info = {"roots": roots, "files": len(files), "heldout_files": held, "file_list_sha256": digest,
            "content_sha256": content.hexdigest(), "train_bytes": int(train.size), "heldout_bytes": int(heldout.size),
            "split_by": split, "split": "held out: int(sha256(%s)) %% %d == 0%s" % (
                "name" if split == "name" else "real path", HOLDOUT_EVERY,
                ", name = the path below its root" if split == "name" else ""),
            "python": sys.version.split()[0]}
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        np.save(cached + ".train.npy", train)
        np.save(cached + ".heldout.npy", heldout)
        with open(cached + ".json", "w") as fh:
            json.dump(info, fh, indent=1)
    log("corpus: %d files (%d held out), %.1f MB train, %.1f MB held out, list sha256 %s"
        % (len(files), held, train.size / 1e6, heldout.size / 1e6, digest[:16]))
    return train, heldout, info, files
