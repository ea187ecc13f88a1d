"""Start-up time of the CLI: how long `tocsin --help` takes before anything useful happens.

Run as ``.venv/bin/python bench/cli_startup.py`` (``--runs N``, ``--args="incident --help"``).
It times whole processes, as a shell would, and prints the median and p90 wall time of the
command and of ``python -c pass`` (the interpreter's own start), and their ratio, so figures
taken on a busy machine can still be compared.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _timed(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


def _p90(times: list[float]) -> float:
    return statistics.quantiles(times, n=10, method="inclusive")[-1]


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="Processes to time (default 10).")
    parser.add_argument(
        "--args",
        default="--help",
        help="Arguments for tocsin, given as --args='incident --help' (default: --help).",
    )
    options = parser.parse_args()
    tocsin = Path(sys.executable).with_name("tocsin")
    command = [str(tocsin), *shlex.split(options.args)]
    _timed(command, 1)  # the first run pays for cold file caches
    cli = _timed(command, options.runs)
    bare = _timed([sys.executable, "-c", "pass"], options.runs)
    for label, times in ((f"tocsin {options.args}", cli), ("python -c pass", bare)):
        median, p90 = statistics.median(times), _p90(times)
        print(f"{label:<28} median {median * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms")
    ratio = statistics.median(cli) / statistics.median(bare)
    print(f"{'ratio (median)':<28} {ratio:.1f}x")


if __name__ == "__main__":
    main()
