"""Cold first decode of a catalogue: time and peak memory, the old path against the new one, in one run.

    flock /tmp/shoevae-bench.lock python bench/bench_decode.py \\
        --data ../shared/data/zappos --data /tmp/zappos50k-test

Each (catalogue, path) runs in a fresh Python process with an empty cache folder (the photos
themselves are in the OS file cache after the first run, as on a server that just read them):

- old: the decoder as it was before this change (threads, each photo padded to a square then
  resized, a list of arrays, then `np.stack`, then the cache file written with `np.save`);
- new: `shoevae.load_catalogue` (worker processes, JPEG draft mode, `ImageOps.pad`, rows written
  straight into the memory-mapped cache file).

CPU s: processor seconds of the process and its workers (what the decode costs, whatever else runs).
Memory: the peak resident set (VmHWM) of the main process and of the largest worker, and the
peak of the summed proportional set size (PSS, shared pages split between the processes that map
them) of the process and its workers, sampled every 20 ms; each as a multiple of the final array.
The two paths' images are compared on 300 random rows (mean and max absolute difference).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from shoevae.config import PHOTO_SIZE

REPO = Path(__file__).resolve().parents[1]


# --- the old path, as it was (shoevae/catalogue.py before the cache-decode branch) ---------------------------

def _old_decode(path: Path, size: int):
    from PIL import Image, ImageOps

    from shoevae.images import MAX_BYTES, ImageError
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_BYTES else None
        if data is None:
            raise ImageError("file too large")
        import io
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (size, size))
            im.load()
            im = ImageOps.exif_transpose(im).convert("RGB")
            side = max(im.size)
            square = Image.new("RGB", (side, side), (255, 255, 255))
            square.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
            if side != size:
                square = square.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(square, dtype=np.uint8), hashlib.md5(data).hexdigest(), ""
    except Exception as e:  # the old code named each failure; only the count matters here
        return None, "", str(e)


def old_load(source: str, size: int, out: Path) -> tuple[list[str], np.ndarray]:
    from shoevae.catalogue import list_sources
    root, rows = list_sources(source)
    paths = [root / rel for _, rel, _ in rows]
    with ThreadPoolExecutor(min(4, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda p: _old_decode(p, size), paths, chunksize=1))
    ids, images = [], []
    for (item_id, _, _), (img, md5, _) in zip(rows, results):
        if img is not None:
            ids.append(item_id or md5[:12])
            images.append(img)
    arr = np.stack(images)
    with open(out, "wb") as f:
        np.save(f, arr)
        f.flush()
        os.fsync(f.fileno())
    return ids, arr


# --- measuring one path in this process ----------------------------------------------------------------------

def _status_kb(pid: int | str, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _pss_kb(pid: int | str) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[str]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += f.read().split()
        except OSError:
            pass
    return out


def _descendants(pid: int) -> list[str]:
    todo, seen = [str(pid)], []
    while todo:
        p = todo.pop()
        seen.append(p)
        try:
            todo += _children(int(p))
        except OSError:
            pass
    return seen


def _cpu_seconds(pid: str) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def measure_one(path: str, source: str, size: int, cache: Path) -> dict:
    peak = {"pss": 0, "worker_hwm": 0}
    cpu: dict[str, float] = {}
    me = str(os.getpid())
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pids = _descendants(os.getpid())
            peak["pss"] = max(peak["pss"], sum(_pss_kb(p) for p in pids))
            for p in pids:
                if p != me:
                    cpu[p] = max(cpu.get(p, 0.0), _cpu_seconds(p))
                    try:
                        peak["worker_hwm"] = max(peak["worker_hwm"], _status_kb(p, "VmHWM"))
                    except OSError:
                        pass
            stop.wait(0.02)
    import PIL.Image  # noqa: F401  (imports are not part of the decode)

    import shoevae.catalogue  # noqa: F401
    base_rss = _status_kb("self", "VmRSS")
    cpu0 = _cpu_seconds(me)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    if path == "old":
        ids, arr = old_load(source, size, cache / "old.npy")
        nbytes = arr.nbytes
    else:
        from shoevae.catalogue import load_catalogue
        cat = load_catalogue(source, size, cache_dir=cache)
        ids, nbytes = cat.ids, cat.images.nbytes
    seconds = time.perf_counter() - t
    stop.set()
    sampler.join()
    cpu_total = _cpu_seconds(me) - cpu0 + sum(cpu.values())  # workers as last sampled (20 ms before they end)
    return {"path": path, "n": len(ids), "seconds": seconds, "cpu_seconds": cpu_total, "array_mb": nbytes / 2**20,
            "main_peak_rss_mb": _status_kb("self", "VmHWM") / 1024, "main_base_rss_mb": base_rss / 1024,
            "worker_peak_rss_mb": peak["worker_hwm"] / 1024, "peak_pss_mb": peak["pss"] / 1024,
            "ids_md5": hashlib.md5("\n".join(ids).encode()).hexdigest()}


def run_child(path: str, source: str, size: int, cache: Path) -> dict:
    cmd = [sys.executable, __file__, "--one", path, "--size", str(size), "--cache", str(cache), "--data", source]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(cache_old: Path, cache_new: Path, rows: int = 300) -> tuple[float, int]:
    old = np.load(cache_old / "old.npy", mmap_mode="r")
    (new_path,) = cache_new.glob("catalogue-*.npy")
    new = np.load(new_path, mmap_mode="r")
    pick = np.random.default_rng(0).choice(len(new), min(rows, len(new)), replace=False)
    d = np.abs(old[np.sort(pick)].astype(np.int16) - new[np.sort(pick)].astype(np.int16))
    return float(d.mean()), int(d.max())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", action="append", help="catalogue folder or manifest (repeatable; default the shared "
                                                   "sample)")
    p.add_argument("--size", type=int, default=PHOTO_SIZE)
    p.add_argument("--paths", nargs="+", default=["old", "new"], choices=["old", "new"])
    p.add_argument("--one", choices=["old", "new"], help=argparse.SUPPRESS)
    p.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    data = args.data or [str(REPO.parent / "shared" / "data" / "zappos")]
    if args.one:
        print(json.dumps(measure_one(args.one, data[0], args.size, args.cache)))
        return 0
    print(f"cold first decode at {args.size} px, {os.cpu_count()} CPUs, fresh process and empty cache per row")
    print(f"{'catalogue':<32} {'path':<4} {'photos':>7} {'seconds':>8} {'CPU s':>6} {'array':>8} {'main peak':>10} "
          f"{'worker peak':>12} {'peak PSS':>9}")
    for source in data:
        with tempfile.TemporaryDirectory(prefix="shoevae-bench-decode-") as tmp:
            dirs, results = {}, []
            for path in args.paths:
                dirs[path] = Path(tmp) / path
                dirs[path].mkdir()
                r = run_child(path, source, args.size, dirs[path])
                results.append(r)
                a = r["array_mb"]
                print(f"{Path(source).name[:32]:<32} {path:<4} {r['n']:>7} {r['seconds']:>8.1f} "
                      f"{r['cpu_seconds']:>6.1f} {a / 1024:>6.2f}GB "
                      f"{r['main_peak_rss_mb'] / a:>9.2f}x {r['worker_peak_rss_mb'] / a:>11.2f}x "
                      f"{r['peak_pss_mb'] / a:>8.2f}x", flush=True)
            if set(args.paths) == {"old", "new"}:
                if len({r["ids_md5"] for r in results}) != 1:
                    print(f"{'':<32} the two paths kept different photos: images not compared")
                    continue
                mean, worst = compare(dirs["old"], dirs["new"])
                print(f"{'':<32} old vs new images, 300 random rows: mean |diff| {mean:.3f}, max {worst} (of 255)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
