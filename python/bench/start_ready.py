"""``Daemon.start()`` until ready, for a TCP service, from Python: the median over
``--runs`` starts (default 20), and the import time of ``proctor``. The Rust twin is
``cargo run --release --example start_ready``.

    python python/bench/start_ready.py [--runs 20]

Run it from outside ``python/`` (its ``proctor/`` would shadow the installed package).
"""

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def import_time(rounds: int = 10) -> float:
    """Median milliseconds of ``import proctor`` in a fresh interpreter (minus a bare one)."""
    def run(code: str) -> float:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return float(out.stdout)

    timed = "import time; t=time.perf_counter(); {}; print((time.perf_counter()-t)*1000)"
    with_proctor = [run(timed.format("import proctor")) for _ in range(rounds)]
    return statistics.median(with_proctor)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    runs = ap.parse_args().runs
    print(f"python: import proctor: median {import_time():.2f} ms (fresh interpreter, 10 runs)")
    import proctor

    times = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as home:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            addr = f"127.0.0.1:{port}"
            d = proctor.Daemon(f"tcp{i}", ["busybox", "httpd", "-f", "-p", addr, "-h", "/"],
                               ready=proctor.Probe.tcp(addr, interval=0.002), restart="no",
                               state_dir=home)
            t = time.perf_counter()
            d.start()
            times.append((time.perf_counter() - t) * 1000)
            d.stop()
    times.sort()
    print(f"python: Daemon.start() -> ready (tcp), {runs} runs: median {statistics.median(times):.2f} ms, "
          f"min {times[0]:.2f} ms, max {times[-1]:.2f} ms")


if __name__ == "__main__":
    main()
