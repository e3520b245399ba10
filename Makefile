# Each target builds its own virtualenv in .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
GENERATOR_INPUTS := alphapulse_codec/wire/layouts.py alphapulse_codec/wire/enums.py \
	alphapulse_codec/wire/stamp.py tools/generate.py tools/codec_stub_head.pyi
SOURCES := build/.generated setup.py pyproject.toml $(wildcard alphapulse_codec/wire/*.pyx alphapulse_codec/wire/*.pxi alphapulse_codec/wire/*.pxd alphapulse_codec/wire/_c/*) \
	$(wildcard alphapulse_codec/transport/*.pyx alphapulse_codec/transport/*.pxd alphapulse_codec/transport/_c/*) \
	$(wildcard alphapulse_codec/relay/*.pyx alphapulse_codec/relay/*.pxd)

.PHONY: demo test bench generate sanitize tsan fuzz fuzz-seed check-arm dist check-sdist clean
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := decode iter_frames decode_batch streaming learn

# The generated files are committed; they are written again whenever what they come from changes.
build/.generated: $(GENERATOR_INPUTS)
	$(PYTHON) tools/generate.py
	mkdir -p build && touch $@

$(VENV)/.installed: $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The codec's round trip of a session of every type, then the live system: relays, producers,
# a recorder and a consumer, each its own process, for a few seconds, checked and stopped.
demo: $(VENV)/.installed
	mkdir -p build && $(PY) -m alphapulse_codec demo -o build/demo-session.bin
	$(PY) -m alphapulse_codec demo --relays

# the suite's processes spend much of their time waiting on relays, servers and children of
# their own: a worker per core (pytest-xdist) halves it on two; TEST_WORKERS=0 runs it in one
TEST_WORKERS ?= auto
test: $(VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

bench: $(VENV)/.installed
	$(PY) benchmarks/compare.py
	$(PY) benchmarks/crc.py
	$(PY) benchmarks/batch.py
	$(PY) benchmarks/registry.py
	$(PY) benchmarks/hostile.py
	$(PY) benchmarks/floor.py
	$(PY) benchmarks/relay.py
	$(PY) benchmarks/relay_tcp.py
	$(PY) benchmarks/transports.py
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-columns=median,ops,rounds

generate:
	$(PYTHON) tools/generate.py
	mkdir -p build && touch build/.generated

# The sdist and the wheel (python -m build: the wheel is built from the sdist) in dist/, what
# each holds checked and their sizes printed; check-sdist also runs the test suite from the
# unpacked sdist, built in place. The wheel's build compiles the same C as the install's above:
# with ccache set up as .ci/run does, it takes the install's objects instead.
dist: $(VENV)/.installed
	$(PY) tools/check_dist.py

check-sdist: $(VENV)/.installed
	$(PY) tools/check_dist.py --test-sdist

# A build with AddressSanitizer and UBSan, running the test suite under them.
sanitize: $(VENV)/.installed
	rm -rf build/temp.*  # objects of another build's flags would be linked as they are
	ALPHAPULSE_SANITIZE=address,undefined $(PY) -m pip install --quiet --force-reinstall --no-deps -e .
	LD_PRELOAD=$$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(PY) -m pytest -q -s -p no:cacheprovider tests
	rm -rf build/temp.*
	$(PY) -m pip install --quiet --force-reinstall --no-deps -e .

# A build with ThreadSanitizer, running the tests that decode on several threads (marker
# `threads`) under it. CPython itself is not instrumented; tools/tsan.supp holds the
# suppressions for what TSan reports inside it (see that file), none for this project's code.
tsan: $(VENV)/.installed
	rm -rf build/temp.*
	ALPHAPULSE_SANITIZE=thread $(PY) -m pip install --quiet --force-reinstall --no-deps -e .
	LD_PRELOAD=$$(gcc -print-file-name=libtsan.so) \
		TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tools/tsan.supp" \
		$(PY) -m pytest -q -s -p no:cacheprovider -m threads tests
	rm -rf build/temp.*
	$(PY) -m pip install --quiet --force-reinstall --no-deps -e .

# Coverage-guided fuzzing (atheris, the `fuzz` extra): each target of fuzz/targets.py for
# FUZZ_SECONDS over its committed corpus fuzz/corpus/TARGET; new inputs and any crash go to
# build/fuzz/TARGET. The Python layer is instrumented, the compiled core is not (fuzz/run.py).
fuzz: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[fuzz]'
	set -e; for target in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/$$target; \
		$(PY) fuzz/run.py $$target build/fuzz/$$target fuzz/corpus/$$target \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/$$target/ -print_final_stats=1; \
	done

# Write the seed corpus again (frames of every type, the shared vectors sliced to frames).
fuzz-seed: $(VENV)/.installed
	$(PY) fuzz/seed.py

# The ARMv8 CRC paths, cross-built and run under QEMU user emulation; QEMU's CPU has PMULL,
# so a second build leaves the PMULL folding out, as for the cores without it.
check-arm:
	mkdir -p build
	aarch64-linux-gnu-gcc -O2 -std=c11 -static -I alphapulse_codec/wire/_c tests/c/crc32_check.c \
		alphapulse_codec/wire/_c/crc32.c -o build/crc32_check_arm64
	qemu-aarch64-static build/crc32_check_arm64
	aarch64-linux-gnu-gcc -O2 -std=c11 -static -DAP_CRC32_NO_PMULL -I alphapulse_codec/wire/_c \
		tests/c/crc32_check.c alphapulse_codec/wire/_c/crc32.c -o build/crc32_check_arm64_no_pmull
	qemu-aarch64-static build/crc32_check_arm64_no_pmull

clean:
	rm -rf $(VENV) build dist *.egg-info alphapulse_codec/wire/*.so alphapulse_codec/wire/_codec.c \
		alphapulse_codec/transport/*.so alphapulse_codec/transport/_ring.c \
		alphapulse_codec/transport/_channel.c
