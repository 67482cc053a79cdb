"""The bad-input and fault battery of issue 20, replayed against the real command line.

    python bench/battery.py --data DIR     # DIR: an empty or new scratch folder (default: a temporary one)

Draws a small synthetic catalogue into DIR (tests/synthetic.py), trains a tiny checkpoint on it,
then runs each case as a subprocess of `python -m shoevae` with a timeout: odd names, special
files, manifests, checkpoints (corrupt, foreign, NaN, code-carrying), numbers, paths, a full disk
(a 2 MB tmpfs, where mounting is allowed), concurrent runs, kill -9 and Ctrl-C. A case passes when
it ends as documented: one `shoevae: error: ...` line with exit status 2 (no traceback), or its
documented success, within its timeout, leaving no temporary file behind and every protected file
as it was. Prints a table and `N passed, N failed[, N skipped]`; exits 1 if any failed.
Takes 3-5 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from synthetic import make_shoes  # noqa: E402

TINY = ["--image-size", "64", "--latent-dim", "16", "--batch-size", "8"]


@dataclass
class Case:
    """One command and what it must end as: 'error' (one line, exit 2) or 'ok' (exit 0)."""

    category: str
    name: str
    item: str  # the issue-20 item it replays ('' for the battery's earlier passes)
    argv: list[str]
    expect: str = "error"
    fragment: str = ""  # must appear in the error line (or, for 'ok', in what was printed)
    setup: Callable[[], None] | None = None
    check: Callable[[subprocess.CompletedProcess], str] | None = None  # '' or what is wrong
    protect: list[Path] = field(default_factory=list)  # files that must not change
    timeout: float = 120
    cwd: Path | None = None
    runner: Callable[[Case], tuple[bool, str]] | None = None  # a case that runs itself (kill -9, concurrency)


class Battery:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.cache = work / "cache"
        self.run_dir = work / "run"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "SHOEVAE_CACHE": str(self.cache),
                    "PYTHONUNBUFFERED": "1"}
        self.results: list[tuple[Case, str, str]] = []  # (case, 'pass'|'FAIL'|'skip', detail)

    # ------------------------------------------------------------------ running one command
    def cli(self, argv: list[str], timeout: float = 120, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "shoevae", *map(str, argv)], cwd=cwd or self.run_dir, env=self.env,
                              capture_output=True, text=True, errors="backslashreplace", timeout=timeout, **kw)

    def temporaries(self) -> set[Path]:
        """Hidden temporary files (.NAME.random.tmp) anywhere under the scratch folder and beside weights/."""
        found = {p for p in self.work.rglob(".*.tmp")}
        return found | {p for p in (ROOT / "weights").glob(".*.tmp")}

    @staticmethod
    def judge(case: Case, run: subprocess.CompletedProcess) -> tuple[bool, str]:
        err = "\n".join(line.rsplit("\r", 1)[-1] for line in run.stderr.splitlines() if "%|" not in line)  # no bars
        if "Traceback (most recent call last)" in err:
            last = [line for line in err.strip().splitlines() if line.strip()][-1]
            return False, f"traceback: {last[:110]}"
        errors = [line for line in err.splitlines() if line.startswith("shoevae: error:")]
        if case.expect == "error":
            if run.returncode != 2 or len(errors) != 1:
                said = errors or (run.stdout.strip() or err.strip() or "nothing").splitlines()[-1:]
                return False, f"exit {run.returncode}, {len(errors)} error lines; said: {said[0][:90]}"
            if case.fragment and case.fragment not in errors[0]:
                return False, f"said: {errors[0][:110]}"
            return True, errors[0][len("shoevae: error: "):][:110]
        if run.returncode != 0 or errors:
            return False, f"exit {run.returncode}: {(errors or [err.strip()[-110:]])[0]}"
        if case.fragment and case.fragment not in run.stdout + err:
            return False, f"missing {case.fragment!r} in the output"
        return True, (run.stdout.strip().splitlines() or ["ok"])[-1][:110]

    def play(self, case: Case) -> None:
        before = self.temporaries()
        kept = {p: p.read_bytes() for p in case.protect if p.is_file()}
        try:
            if case.setup:
                case.setup()
            if case.runner:
                ok, detail = case.runner(case)
            else:
                run = self.cli(case.argv, case.timeout, case.cwd)
                ok, detail = self.judge(case, run)
                if ok and case.check:
                    problem = case.check(run)
                    ok, detail = (False, problem) if problem else (ok, detail)
        except subprocess.TimeoutExpired:
            ok, detail = False, f"still running after {case.timeout:g} s (killed)"
        except Skip as e:
            self.results.append((case, "skip", str(e)))
            print(f"  skip  {case.category:<12} {case.name}: {e}", flush=True)
            return
        finally:
            changed = [p for p, data in kept.items() if _digest(p) != hashlib.sha256(data).hexdigest()]
            for p in changed:  # put back what the case overwrote (a shipped checkpoint, a manifest)
                p.write_bytes(kept[p])
        left = sorted(self.temporaries() - before)
        if ok and left:
            ok, detail = False, f"left a temporary file: {left[0]}"
        if changed:
            ok, detail = False, f"overwrote {changed[0]} (restored); {detail}"
        for tmp in left:  # the next case starts clean
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.results.append((case, "pass" if ok else "FAIL", detail))
        print(f"  {'pass' if ok else 'FAIL'}  {case.category:<12} {case.name}", flush=True)

    def report(self) -> int:
        print(f"\n{'category':<12} {'item':<5} {'case':<46} {'result':<6} detail")
        for case, result, detail in self.results:
            print(f"{case.category:<12} {case.item:<5} {case.name[:46]:<46} {result:<6} {detail}")
        passed = sum(r == "pass" for _, r, _ in self.results)
        failed = sum(r == "FAIL" for _, r, _ in self.results)
        skipped = sum(r == "skip" for _, r, _ in self.results)
        print(f"\n{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
        return 1 if failed else 0


class Skip(Exception):
    """A case this machine cannot play (no tmpfs, no console script); its reason is printed."""


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


class Evil:
    """A pickle that would run a command when loaded: a checkpoint must never execute it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ---------------------------------------------------------------------- the cases
def build(b: Battery, photos: Path, tiny: Path) -> list[Case]:  # noqa: C901 (one flat list of cases)
    import torch

    w, run = b.work, b.run_dir
    cases: list[Case] = []
    add = cases.append
    ck = ["--checkpoint", tiny]

    # --- odd names (item 5)
    odd = w / "odd"
    make_shoes(odd, per_category=3, seed=1)
    (odd / os.fsdecode(b"Boot/caf\xe9.jpg")).write_bytes((odd / "Boot/boot-000.jpg").read_bytes())
    (odd / os.fsdecode(b"Sh\xf6e")).mkdir()
    (odd / os.fsdecode(b"Sh\xf6e/x.jpg")).write_bytes((odd / "Boot/boot-001.jpg").read_bytes())
    (odd / "Shoe" / "with space and ümlaut.jpg").write_bytes((odd / "Shoe/shoe-000.jpg").read_bytes())
    add(Case("odd names", "data check: names that are not UTF-8", "5", ["data", "check", "--data", odd], "ok",
             "not valid UTF-8; kept"))
    add(Case("odd names", "recommend --all over them", "5",
             ["recommend", "--all", "-k", "3", "--out", w / "odd.csv", "--data", odd, *ck], "ok", "12 shoes"))
    add(Case("odd names", "recommend one of them", "5", ["recommend", "--image", odd / os.fsdecode(b"Boot/caf\xe9.jpg"),
                                                          "--data", odd, *ck], "ok", "1. "))

    # --- special files (item 6)
    special = w / "special"
    make_shoes(special, per_category=3, seed=2)
    os.mkfifo(special / "Boot" / "x.jpg")
    (special / "Boot" / "zero.jpg").symlink_to("/dev/zero")
    (special / "Boot" / "folder.jpg").mkdir()
    (special / "Shoe" / "empty.jpg").write_bytes(b"")
    (special / "Shoe" / "text.jpg").write_text("not a photo")
    (special / "Shoe" / "cut.jpg").write_bytes((special / "Shoe/shoe-000.jpg").read_bytes()[:300])
    add(Case("special", "data check: FIFO, /dev/zero link, folder.jpg", "6", ["data", "check", "--data", special], "ok",
             "not a regular file: a named pipe", timeout=60,
             check=lambda r: "" if "not a regular file: a character device" in r.stderr else "/dev/zero not skipped"))
    add(Case("special", "--image is a FIFO", "6", ["recommend", "--image", special / "Boot/x.jpg", "--data", photos, *ck],
             fragment="named pipe", timeout=60))
    add(Case("special", "--image links to /dev/zero", "6", ["recommend", "--image", special / "Boot/zero.jpg",
                                                             "--data", photos, *ck], fragment="character device",
             timeout=60))
    add(Case("special", "--image is empty / not a photo", "", ["recommend", "--image", special / "Shoe/text.jpg",
                                                                "--data", photos, *ck], fragment="not an image"))

    # --- manifests and folders (item 7)
    man = w / "manifest"
    make_shoes(man, per_category=3, seed=3)
    (man / "manifest.csv").write_text("item_id,path,category\nonlyid\nm1,Boot/boot-000.jpg,Boot\n"
                                      "m2,../../etc/shadow,Boot\nm3,/etc/passwd,Boot\nm4,Shoe/shoe-000.jpg\n")
    add(Case("manifests", "rows: only an id, ../../etc/shadow, absolute", "7", ["data", "check", "--data", man], "ok",
             "2 usable images", check=lambda r: "" if r.stderr.count("skipped") == 3 else "not every bad row reported"))
    bad_only = w / "bad-only.csv"
    bad_only.write_text("item_id,path\nonlyid\n../../etc/shadow\n")
    add(Case("manifests", "no usable row", "7", ["data", "check", "--data", bad_only], fragment="no usable images"))
    nopath = w / "nopath.csv"
    nopath.write_text("item_id,file\na,b.jpg\n")
    add(Case("manifests", "no path column", "", ["data", "check", "--data", nopath], fragment="no 'path' column"))
    latin = w / "latin1.csv"
    latin.write_bytes("item_id,path\ncaf\xe9,x.jpg\n".encode("latin-1"))
    add(Case("manifests", "manifest not UTF-8", "", ["data", "check", "--data", latin], fragment="not a readable CSV"))
    add(Case("manifests", "missing data folder", "", ["data", "check", "--data", w / "nowhere"],
             fragment="does not exist"))
    locked = w / "locked"
    make_shoes(locked, per_category=2, seed=4)
    add(Case("manifests", "a subfolder that cannot be listed", "7", [], "ok",
             runner=lambda c: _unprivileged(b, c, ["data", "check", "--data", locked], locked / "Sandal",
                                            "cannot list it")))
    add(Case("manifests", "a data folder that cannot be read", "7", [], runner=lambda c: _unprivileged(
        b, c, ["data", "check", "--data", locked], locked, "cannot", error=True)))
    unreadable = w / "unreadable-manifest"
    make_shoes(unreadable, per_category=2, seed=5, manifest=True)
    add(Case("manifests", "a manifest that cannot be read", "7", [], runner=lambda c: _unprivileged(
        b, c, ["data", "check", "--data", unreadable], unreadable / "manifest.csv", "cannot read manifest", error=True)))

    # --- checkpoints
    state = torch.load(tiny, weights_only=True)
    cut = w / "cut.pt"
    cut.write_bytes(tiny.read_bytes()[:5000])
    foreign = w / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    nan = w / "nan.pt"
    torch.save({**state, "model_state": {k: v.float() * float("nan") for k, v in state["model_state"].items()}}, nan)
    badsplit = w / "badsplit.pt"
    torch.save({**state, "data": {**state["data"], "split": {"holdout": float("nan"), "seed": 0}}}, badsplit)
    marker = w / "code-ran"
    evil = w / "evil.pt"
    torch.save({"format": "shoevae-checkpoint", "payload": Evil(marker)}, evil)
    evil_pickle = w / "evil.pkl.pt"
    evil_pickle.write_bytes(pickle.dumps(Evil(marker)))
    no_tc, no_hist = w / "no-train-config.pt", w / "no-history.pt"
    torch.save({k: v for k, v in state.items() if k != "train_config"}, no_tc)
    torch.save({k: v for k, v in state.items() if k != "history"}, no_hist)
    (w / "empty.pt").write_bytes(b"")
    for name, path, frag in [("truncated", cut, "corrupt or truncated"), ("foreign torch file", foreign, "not a shoevae"),
                             ("NaN weights", nan, "not numbers"), ("empty file", w / "empty.pt", "empty"),
                             ("a folder", w, "is a folder")]:
        add(Case("checkpoints", name, "", ["recommend", "x", "--data", photos, "--checkpoint", path], fragment=frag))
    no_marker = (lambda r: "the pickled code ran" if marker.exists() else "")
    add(Case("checkpoints", "code-carrying torch file", "", ["recommend", "x", "--data", photos, "--checkpoint", evil],
             check=no_marker))
    add(Case("checkpoints", "code-carrying plain pickle", "", ["evaluate", "--data", photos, "--checkpoint", evil_pickle],
             check=no_marker))
    add(Case("checkpoints", "evaluate: stored hold-out is NaN", "9", ["evaluate", "--data", photos,
                                                                       "--checkpoint", badsplit], fragment="hold-out"))
    add(Case("checkpoints", "export: no train_config", "8", ["export", no_tc, w / "x1.pt"]))
    add(Case("checkpoints", "export: no history", "8", ["export", no_hist, w / "x2.pt"]))

    # --- numbers (items 10, 11, 14)
    for item, name, argv, frag in [
            ("10", "generate --temperature nan", ["generate", "--temperature", "nan", *ck], "--temperature"),
            ("10", "generate --temperature inf", ["generate", "--temperature", "inf", *ck], "--temperature"),
            ("10", "generate --seed -1", ["generate", "--seed", "-1", *ck], "--seed"),
            ("10", "train --seed 99999999999999999999", ["train", "--seed", "99999999999999999999", "--data", photos],
             "--seed"),
            ("11", "train --latent-dim 1000000000", ["train", "--latent-dim", "1000000000", "--data", photos],
             "--latent-dim"),
            ("11", "train --image-size 100000", ["train", "--image-size", "100000", "--data", photos], "--image-size"),
            ("11", "generate --n 1000000", ["generate", "--n", "1000000", *ck], "--n"),
            ("", "train --lr nan", ["train", "--lr", "nan", "--data", photos], "--lr"),
            ("", "train --batch-size 0", ["train", "--batch-size", "0", "--data", photos], "--batch-size"),
            ("", "recommend -k abc", ["recommend", "x", "-k", "abc"], "-k")]:
        add(Case("numbers", name, item, argv, fragment=frag))
    add(Case("numbers", "evaluate -k 100000 on 24 photos", "14", ["evaluate", "-k", "100000", "--data", photos, *ck],
             "ok", "cannot be computed: k=100000",
             check=lambda r: "a number was printed" if "@100000   0." in r.stdout else ""))

    # --- paths (items 2, 3, 12, 15)
    existing = run / "exists.npy"
    existing.write_bytes(b"keep me")
    (run / "runs.csv").mkdir(exist_ok=True)
    manifest_copy = w / "with-manifest"
    make_shoes(manifest_copy, per_category=2, seed=6, manifest=True)
    for name, argv, item in [
            ("recommend --all --out n.csv/", ["recommend", "--all", "--out", "n.csv/", "--data", photos, *ck], "12"),
            ("evaluate --json r.json/", ["evaluate", "--json", "r.json/", "--data", photos, *ck], "12"),
            ("train --out m.pt/", ["train", "--out", "m.pt/", "--data", photos, "--epochs", "1", *TINY], "12"),
            ("export to out.pt/", ["export", tiny, "out.pt/"], "12"),
            ("generate --out g.png/", ["generate", "--out", "g.png/", "--sampler", "prior", *ck], "12"),
            ("embed --out e.npy/", ["embed", "--out", "e.npy/", "--data", photos, *ck], "12"),
            ("--out is a folder", ["recommend", "--all", "--out", run / "runs.csv", "--data", photos, *ck], ""),
            ("embed --out over a file, no --force", ["embed", "--out", existing, "--data", photos, *ck], "15"),
            ("generate --out .txt", ["generate", "--out", "g.txt", *ck], "")]:
        add(Case("paths", name, item, argv, protect=[existing]))
    add(Case("paths", "recommend --all over the catalogue's manifest", "2",
             ["recommend", "--all", "--out", manifest_copy / "manifest.csv", "--data", manifest_copy, *ck],
             protect=[manifest_copy / "manifest.csv"]))
    add(Case("paths", "recommend --all --out into the photo folder", "2",
             ["recommend", "--all", "--out", manifest_copy / "Boot" / "near.csv", "--data", manifest_copy, *ck]))
    shipped = ROOT / "weights" / "parts.pt"
    add(Case("paths", "train --out weights/parts.pt --force", "3",
             ["train", "--data", photos, "--out", "weights/parts.pt", "--force", "--epochs", "1", "--limit", "8", *TINY],
             cwd=ROOT, protect=[shipped]))

    # --- full disk (item 13)
    full = w / "full"
    full.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(full)], capture_output=True,
                             text=True).returncode == 0
    b.mounted = full if mounted else None

    def fill() -> None:  # every byte taken: any write of data fails with ENOSPC (an empty file still can be made)
        if not mounted:
            raise Skip("cannot mount a 2 MB tmpfs here (needs root and mount rights)")
        for f in full.iterdir():
            f.unlink()
        with contextlib.suppress(OSError), open(full / "filler", "wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 4096)
    for name, argv in [("train --out on a full disk", ["train", "--data", photos, "--out", full / "m.pt", "--epochs", "1",
                                                       *TINY]),
                       ("export to a full disk", ["export", tiny, full / "e.pt"]),
                       ("recommend --all to a full disk", ["recommend", "--all", "-k", "5", "--out", full / "n.json",
                                                           "--data", photos, *ck]),
                       ("embed to a full disk", ["embed", "--out", full / "e.npy", "--data", photos, *ck])]:
        add(Case("full disk", name, "13", argv, fragment="no space left", setup=fill,
                 check=lambda r: ", ".join(p.name for p in full.iterdir() if p.name != "filler")))

    # --- concurrency, kill -9, Ctrl-C (items 1, 4)
    add(Case("concurrent", "two trains, the same --out", "1", [], runner=lambda c: _two_trains(b, photos)))
    add(Case("kill -9", "kill -9 mid-training, then resume", "", [], runner=lambda c: _kill_and_resume(b, photos)))
    add(Case("kill -9", "a stale temporary of the target goes", "4", [], runner=lambda c: _stale_temp(b, photos)))
    add(Case("kill -9", "Ctrl-C keeps the last epoch (exit 130)", "", [], runner=lambda c: _ctrl_c(b, photos)))

    # --- fetch and the program's name (item 17)
    add(Case("fetch", "file:// URL", "17", ["data", "fetch", "--url", f"file://{tiny}", "--dest", w / "f1" / "z"],
             fragment="http", check=lambda r: "left a folder" if (w / "f1").exists() else ""))
    add(Case("fetch", "unreachable URL, new --dest", "17",
             ["data", "fetch", "--url", "http://127.0.0.1:9/x.zip", "--dest", w / "f2" / "deep" / "z"],
             fragment="cannot reach", check=lambda r: "left a folder" if (w / "f2").exists() else ""))
    add(Case("fetch", "`shoevae --help` names shoevae", "17", [], "ok", runner=lambda c: _console_help(b)))
    return cases


def _unprivileged(b: Battery, case: Case, argv: list, target: Path, fragment: str, error: bool = False):
    """Run with read permission taken from `target`, as root without the capability to ignore it."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv is missing: cannot drop root's permission override")
    mode = target.stat().st_mode
    target.chmod(0)
    try:
        run = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m",
                              "shoevae", *map(str, argv)], cwd=b.run_dir, env=b.env, capture_output=True, text=True,
                             timeout=60)
    finally:
        target.chmod(mode)
    if "setpriv:" in run.stderr:
        raise Skip(f"setpriv cannot drop capabilities here ({run.stderr.strip()[:80]})")
    return Battery.judge(Case("", "", "", [], "error" if error else "ok", fragment), run)


def _two_trains(b: Battery, photos: Path) -> tuple[bool, str]:
    out = b.work / "same.pt"
    argv = [sys.executable, "-m", "shoevae", "train", "--data", str(photos), "--out", str(out), "--epochs", "3", *TINY]
    procs = [subprocess.Popen(argv, cwd=b.run_dir, env=b.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    done = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    errors = [line for _, err in done for line in err.splitlines() if line.startswith("shoevae: error:")]
    if codes != [0, 2] or len(errors) != 1:
        return False, f"exit statuses {codes}: both wrote {out.name}" if codes == [0, 0] else f"exit statuses {codes}"
    return True, errors[0][len("shoevae: error: "):][:110]


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float) -> bool:
    end = time.time() + seconds
    while time.time() < end and proc.poll() is None:
        if path.exists():
            return True
        time.sleep(0.05)
    return path.exists()


def _epochs(path: Path) -> int:
    import torch
    return len(torch.load(path, weights_only=True)["history"])


def _kill_and_resume(b: Battery, photos: Path) -> tuple[bool, str]:
    out = b.work / "killed.pt"
    proc = subprocess.Popen([sys.executable, "-m", "shoevae", "train", "--data", str(photos), "--out", str(out),
                             "--epochs", "500", *TINY], cwd=b.run_dir, env=b.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        if not _wait_for(out, proc, 180):
            return False, "no checkpoint appeared"
        time.sleep(0.3)  # into the next epochs: the kill may land mid-save
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = _epochs(out)
    run = b.cli(["train", "--data", photos, "--resume", out, "--epochs", done + 1], 180)
    ok, detail = Battery.judge(Case("", "", "", [], "ok"), run)
    if ok and _epochs(out) != done + 1:
        return False, f"resumed file holds {_epochs(out)} epochs, not {done + 1}"
    return ok, f"killed after epoch {done}; resumed to {done + 1}" if ok else detail


def _stale_temp(b: Battery, photos: Path) -> tuple[bool, str]:
    """What kill -9 during a save leaves (.NAME.random.tmp beside the target) is gone after the next save."""
    out = b.work / "stale.pt"
    first = b.cli(["train", "--data", photos, "--out", out, "--epochs", "1", *TINY], 180)
    if first.returncode != 0:
        return False, f"first train failed: {first.stderr.strip()[-100:]}"
    stale = out.parent / f".{out.name}.k1ll3d9x.tmp"
    stale.write_bytes(os.urandom(4096))
    old = time.time() - 7 * 3600  # as left by a process killed hours ago
    os.utime(stale, (old, old))
    run = b.cli(["train", "--data", photos, "--resume", out, "--epochs", "2"], 180)
    ok, detail = Battery.judge(Case("", "", "", [], "ok"), run)
    if ok and stale.exists():
        stale.unlink()
        return False, f"{stale.name} is still there after the next save"
    return ok, detail


def _ctrl_c(b: Battery, photos: Path) -> tuple[bool, str]:
    out = b.work / "interrupted.pt"
    proc = subprocess.Popen([sys.executable, "-m", "shoevae", "train", "--data", str(photos), "--out", str(out),
                             "--epochs", "500", *TINY], cwd=b.run_dir, env=b.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if not _wait_for(out, proc, 180):
        proc.kill()
        return False, "no checkpoint appeared"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    said = [line for line in err.splitlines() if line.startswith("shoevae: interrupted")]
    if proc.returncode != 130 or not said or "Traceback" in err:
        return False, f"exit {proc.returncode}: {err.strip()[-100:]}"
    return True, said[0][len("shoevae: "):][:110]


def _console_help(b: Battery) -> tuple[bool, str]:
    script = shutil.which("shoevae")
    if not script:
        raise Skip("no `shoevae` console script on PATH (pip install -e .)")
    run = subprocess.run([script, "--help"], env=b.env, capture_output=True, text=True, timeout=60)
    first = (run.stdout.splitlines() or [""])[0]
    return first.startswith("usage: shoevae "), first[:110]


def main() -> int:
    p = argparse.ArgumentParser(prog="python bench/battery.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None,
                   help="scratch folder, empty or new: the battery draws its photos and writes everything there "
                        "(default: a new temporary folder, removed afterwards)")
    p.add_argument("-k", "--only", default="", help="run only cases whose category or name contains this")
    args = p.parse_args()
    work = args.data or Path(tempfile.mkdtemp(prefix="shoevae-battery-"))
    if work.exists() and any(work.iterdir()):
        p.error(f"{work} is not empty: give a new or empty folder")
    work = work.resolve()
    b = Battery(work)
    b.mounted = None
    t0 = time.time()
    try:
        photos = make_shoes(work / "photos", per_category=8)
        tiny = work / "tiny.pt"
        print(f"scratch folder {work}; training the tiny checkpoint ...", flush=True)
        first = b.cli(["train", "--data", photos, "--out", tiny, "--epochs", "2", *TINY], 300)
        if first.returncode != 0:
            print(first.stderr[-2000:])
            print("0 passed, 1 failed")
            return 1
        for case in build(b, photos, tiny):
            if args.only in case.category or args.only in case.name:
                b.play(case)
    finally:
        if b.mounted is not None:
            subprocess.run(["umount", str(b.mounted)], check=False)
        if args.data is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{time.time() - t0:.0f} s")
    return b.report()


if __name__ == "__main__":
    sys.exit(main())
