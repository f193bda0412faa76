"""Run every command of README.md's ```bash blocks, in order, in a fresh clone, as a new user would.

    python docs/readme_commands.py                 # clone HEAD to a temp dir (../shared beside it), run all
    python docs/readme_commands.py --list          # print the commands only
    python docs/readme_commands.py --venv .venv    # reuse an installed environment instead of `make`'s install
    python docs/readme_commands.py --skip 'winnow mix' --skip 'make test'
    python docs/readme_commands.py --venv .venv --fast   # what CI runs after the tests (.ci/run): a few minutes

Blocks fenced as ```bash are commands to run; plain ``` blocks are synopses or need a real cluster or
bucket (placeholders such as HEAD_IP), and are not run. `winnow` resolves to the clone's .venv/bin.
Exit status 1 when any command fails; each command's time and the tail of a failure are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# --fast leaves out what takes longer than a couple of minutes on 2 cores or repeats CI: the test suite itself, the
# mixing runs (~6 min each) and what reads their weights (export), and the 32k tokenizer; those are run by hand
# before a change to them is called done, and recorded in the issue
SLOW = ("make test", "winnow mix", "winnow export", "winnow train-tokenizer")


def commands(readme: str) -> list[str]:
    """The command lines of the ```bash blocks (continuations joined, comments and blank lines left out)."""
    out = []
    for block in re.findall(r"^```bash\n(.*?)^```", readme, re.S | re.M):
        pending = ""
        for line in block.splitlines():
            line = pending + line
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            pending = ""
            if line.strip() and not line.strip().startswith("#"):
                out.append(line.strip())
    return out


def fresh_clone(venv: str | None) -> Path:
    root = Path(tempfile.mkdtemp(prefix="winnow-readme-"))
    clone = root / "main"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    os.symlink(REPO.parent / "shared", root / "shared")
    if venv:  # an installed environment: `make` sees .venv/bin/winnow newer than pyproject.toml and skips install
        os.symlink(Path(venv).resolve(), clone / ".venv")
        subprocess.run([str(clone / ".venv" / "bin" / "pip"), "install", "-q", "--no-deps", "-e", str(clone)],
                       check=True, capture_output=True)
        (clone / ".venv" / "bin" / "winnow").touch()
    return clone


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--venv", help="reuse this environment (skips the 2.6 GB install of `make`)")
    ap.add_argument("--skip", action="append", default=[], help="skip commands containing this text; repeatable")
    ap.add_argument("--fast", action="store_true", help="leave out the slow commands (SLOW)")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    todo = commands((REPO / "README.md").read_text())
    if args.list:
        print("\n".join(todo))
        return 0
    skip = args.skip + (list(SLOW) if args.fast else [])
    clone = fresh_clone(args.venv)
    try:
        return run_all(todo, skip, clone, args.timeout)
    finally:
        if args.venv:  # the clone re-pointed the environment's editable install: point it back here
            subprocess.run([str(Path(args.venv) / "bin" / "pip"), "install", "-q", "--no-deps", "-e", str(REPO)],
                           check=True, capture_output=True)
            (Path(args.venv) / "bin" / "winnow").touch()


def run_all(todo: list[str], skip: list[str], clone: Path, timeout: float) -> int:
    env = dict(os.environ, PATH=f"{clone / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    failed = skipped = 0
    for cmd in todo:
        if any(s in cmd for s in skip):
            print(f"SKIP  {cmd}")
            skipped += 1
            continue
        t0 = time.time()
        r = subprocess.run(["bash", "-c", cmd], cwd=clone, env=env, capture_output=True, text=True,
                           timeout=timeout)
        status = "ok  " if r.returncode == 0 else "FAIL"
        print(f"{status}  {time.time() - t0:7.1f}s  {cmd}", flush=True)
        if r.returncode:
            failed += 1
            print("      " + (r.stderr or r.stdout)[-1500:].replace("\n", "\n      "))
    print(f"{len(todo) - failed - skipped} passed, {failed} failed, {skipped} skipped (in {clone})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
