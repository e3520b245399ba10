"""Instructions per call of the codec and its peers, counted by callgrind: the same figure
whatever else the machine runs, where compare.py's times move with its load.

    python benchmarks/instructions.py [--calls N] [--case SUBSTRING ...]

Each function of compare.py's cases runs in a process of its own under
`valgrind --tool=callgrind`, once with N calls and once with 2N; the difference of the two
processes' instruction counts over N is the count of one call, with the start-up of Python
and the warm-up calls taken out. Needs valgrind on the PATH.
"""
from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve()
WARM_UP = 200
_TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def _run_calls(case: str, name: str, calls: int) -> None:
    """The child: `calls` calls of one function, after the warm-up every run shares."""
    sys.path.insert(0, str(HERE.parent))
    import peers

    function = peers.all_cases()[case][name]
    # as timeit does: a collection of the whole heap falling in one run and not the other
    # would count thousands of instructions per call that are not the function's
    gc.disable()
    for _ in range(WARM_UP):
        function()
    for _ in range(calls):
        function()


def _instructions(case: str, name: str, calls: int, workdir: str) -> int:
    out = os.path.join(workdir, "callgrind.out")
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         str(HERE), "--child", case, name, str(calls)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # a random hash seed changes how many instructions start-up takes by far more than
        # the calls counted, in each process its own way; OpenBLAS's worker threads (numpy is
        # imported) spin while idle, and callgrind counts every thread's instructions
        env={**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"})
    with open(out) as file:
        match = _TOTALS.search(file.read())
    if match is None:
        raise RuntimeError(f"no instruction total in callgrind's output for {case}: {name}")
    return int(match.group(1))


def per_call(case: str, name: str, calls: int) -> float:
    with tempfile.TemporaryDirectory() as once_dir, tempfile.TemporaryDirectory() as twice_dir:
        # two processes at once: counts do not depend on what else runs
        with ThreadPoolExecutor(2) as pool:
            once = pool.submit(_instructions, case, name, calls, once_dir)
            twice = pool.submit(_instructions, case, name, 2 * calls, twice_dir)
            return (twice.result() - once.result()) / calls


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _run_calls(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10000, help="calls in the shorter run")
    parser.add_argument("--case", action="append", default=[],
                        help="run the cases whose name holds this text (default: Trade's)")
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("instructions.py: valgrind is not on the PATH")
    sys.path.insert(0, str(HERE.parent))
    import peers

    import alphapulse_codec as ap

    print(f"alphapulse_codec {ap.__version__}, {peers.cpu_model()}; instructions per call under"
          f" callgrind ({options.calls} and {2 * options.calls} calls, difference)")
    wanted = options.case or ["Trade:"]
    for case, functions in peers.all_cases().items():
        if not any(text in case for text in wanted):
            continue
        print(f"\n{case}")
        ours: dict[str, float] = {}
        for name in functions:
            count = per_call(case, name, options.calls)
            if name.startswith("alphapulse_codec"):
                ours[name] = count
            ratios = "  ".join(f"{c / count:5.2f}x" for c in ours.values() if name not in ours)
            print(f"  {name:40s} {count:10.0f}  {ratios}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
