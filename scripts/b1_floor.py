#!/usr/bin/env python3
"""The floor under peer-bench B1: a bare launcher posix_spawns N of the harness's child scripts
(each writes a marker with `date`, then execs `sleep`) and waits until every marker is written.
Usage: python3 scripts/b1_floor.py [N=200] [REPS=5]. No supervisor can start those children faster."""
import os, sys, tempfile, time, statistics, shutil, signal
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
res = []
dirs = []
for r in range(REPS):
    wd = tempfile.mkdtemp(prefix="floor-", dir="/tmp"); md = os.path.join(wd, "m"); os.mkdir(md)
    dirs.append(wd)
    scripts = []
    for i in range(N):
        s = os.path.join(wd, f"c{i}.sh")
        with open(s, "w") as f:
            f.write(f'#!/bin/sh\necho "$(/bin/date +%s%N) $$" >> {md}/s{i}\nexec /bin/sleep infinity\n')
        os.chmod(s, 0o755); scripts.append(s)
    t0 = time.time_ns()
    pids = [os.posix_spawn(s, [s], os.environ) for s in scripts]
    stamps = {}
    dl = time.monotonic() + 30
    while len(stamps) < N and time.monotonic() < dl:
        for i in range(N):
            if i in stamps: continue
            try:
                t = open(f"{md}/s{i}").read().split()
                if len(t) >= 2: stamps[i] = int(t[0])
            except (FileNotFoundError, ValueError): pass
        time.sleep(0.001)
    res.append((max(stamps.values()) - t0) / 1e6)
    for p in pids: os.kill(p, signal.SIGKILL)
    for p in pids: os.waitpid(p, 0)
print(f"floor N={N}: " + " ".join(f"{x:.0f}" for x in res) + f"  median {statistics.median(res):.0f} ms")
# Removed at the end, not between runs: on ext4 without a journal, files freed just before
# make the next run's file creations scan past them.
for d in dirs:
    shutil.rmtree(d, ignore_errors=True)
