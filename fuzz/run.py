"""Run one fuzz target under atheris (libFuzzer):

    python fuzz/run.py TARGET [libFuzzer options and corpus directories]

TARGET is one of fuzz/targets.py's TARGETS. `make fuzz` runs each for FUZZ_SECONDS over its
corpus in fuzz/corpus/TARGET. Coverage: the Python layer is instrumented
(atheris.instrument_imports); the compiled core is not (that needs the extension built by
clang with -fsanitize=fuzzer-no-link), so inside it the fuzzer is guided by the Python code it
reaches and by the corpus, not by the C branches.

FUZZ_INSTRUMENT=0 skips the instrumentation (a quicker start, no coverage guidance): the
test suite's short runs use it.

Any exception other than the allowed ones (see targets.py) is a crash: libFuzzer writes the
input to crash-* (or -artifact_prefix=) and exits non-zero.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

if os.environ.get("FUZZ_INSTRUMENT", "1") == "0":  # a quick run (the test suite's): no coverage
    import targets
else:
    with atheris.instrument_imports(include=["alphapulse_codec", "targets"]):
        import targets


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: run.py TARGET [libFuzzer options]; TARGET one of {', '.join(targets.TARGETS)}")
    target = targets.TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0]] + sys.argv[2:], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
