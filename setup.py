"""Build of the compiled core. Compiler directives and flags are set here, once.

ALPHAPULSE_DEBUG_BUILD=1   bounds checks on, no optimisation, C asserts kept
ALPHAPULSE_SANITIZE=address,undefined   build with those sanitizers (gcc/clang); "thread" for
                                        ThreadSanitizer (make tsan)
Other builds link the module without its debug information (most of its size: the wheel's
module is 1.7 MB instead of 10 MB on x86-64 Linux); the symbol table stays, so profilers and
backtraces still name the functions.
"""
import importlib.util
import os
import sys
from pathlib import Path

DEBUG = os.environ.get("ALPHAPULSE_DEBUG_BUILD") == "1"
SANITIZE = os.environ.get("ALPHAPULSE_SANITIZE", "")

WIRE = Path(__file__).resolve().parent / "alphapulse_codec" / "wire"
GENERATED = [WIRE / "_c" / "wire.h", WIRE / "_wire.pxd", WIRE / "_messages.pxi", WIRE / "_codec.pyi"]


def _refuse_stale_generated_code() -> None:
    spec = importlib.util.spec_from_file_location("_layout_stamp", WIRE / "stamp.py")
    stamp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stamp)
    stale = stamp.stale_files(GENERATED)
    if stale:
        names = ", ".join(str(p.relative_to(WIRE.parent.parent)) for p in stale)
        sys.exit(f"setup.py: {names} not generated from the current layouts.py and enums.py:"
                 " run `make generate` (python tools/generate.py)")


_refuse_stale_generated_code()  # before anything else: stale code is never worth building

from Cython.Build import cythonize  # noqa: E402
from Cython.Compiler import Options  # noqa: E402
from setuptools import Extension, setup  # noqa: E402
from setuptools.command.build_ext import build_ext  # noqa: E402

Options.warning_errors = True  # a Cython warning fails the build

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

compile_args, link_args = [], []
if sys.platform != "win32":
    compile_args += ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3"]
    compile_args += ["-Wall", "-Wno-unused-function", "-Wno-unreachable-code"]
    if SANITIZE:
        compile_args += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer"]
        link_args += [f"-fsanitize={SANITIZE}"]
    elif not DEBUG:
        # the debug information Python's own CFLAGS ask for (-g) would be stripped at the link:
        # not writing it takes 40% off gcc's time on _codec.c, for the same machine code
        compile_args += ["-g0"]
        link_args += ["-Wl,-S"] if sys.platform == "darwin" else ["-Wl,--strip-debug"]

extension = Extension(
    "alphapulse_codec.wire._codec",
    sources=["alphapulse_codec/wire/_codec.pyx", "alphapulse_codec/wire/_c/crc32.c",
             "alphapulse_codec/wire/_c/crc_combine.c"],
    include_dirs=["alphapulse_codec/wire/_c"],
    depends=["alphapulse_codec/wire/_c/crc32.h", "alphapulse_codec/wire/_c/crc_combine.h",
             "alphapulse_codec/wire/_c/keywords.h",
             "alphapulse_codec/wire/_c/wire.h", "alphapulse_codec/wire/_c/memory.h",
             "alphapulse_codec/wire/_c/rows.h"],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

# the shared-memory ring: its own C core, apart from the codec's
ring_extension = Extension(
    "alphapulse_codec.transport._ring",
    sources=["alphapulse_codec/transport/_ring.pyx", "alphapulse_codec/transport/_c/ring.c"],
    include_dirs=["alphapulse_codec/transport/_c"],
    depends=["alphapulse_codec/transport/_c/ring.h"],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

# the relay's hot path: its own module, so that it builds without the codec's
route = Extension(
    "alphapulse_codec.relay._route",
    sources=["alphapulse_codec/relay/_route.pyx", "alphapulse_codec/wire/_c/crc32.c"],
    include_dirs=["alphapulse_codec/wire/_c"],
    depends=["alphapulse_codec/wire/_c/crc32.h", "alphapulse_codec/relay/_route.pxd"],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

# the in-process channel's walks over a block of frames
channel_extension = Extension(
    "alphapulse_codec.transport._channel",
    sources=["alphapulse_codec/transport/_channel.pyx", "alphapulse_codec/wire/_c/crc32.c"],
    include_dirs=["alphapulse_codec/wire/_c"],
    depends=["alphapulse_codec/wire/_c/crc32.h"],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)


class CythonizingBuildExt(build_ext):
    """Cython writes the extensions' C when they are built: the sdist (which leaves that C
    out) and the build's metadata need none of it."""

    def run(self) -> None:
        # the extensions set up for this command take the C sources in place of the .pyx
        cythonized = {e.name: e for e in cythonize(self.extensions, compiler_directives=directives)}
        for extension in self.extensions:
            extension.sources = cythonized[extension.name].sources
        super().run()


# the extensions build side by side: the small ones while gcc is on _codec.c
setup(ext_modules=[extension, route, ring_extension, channel_extension],
      cmdclass={"build_ext": CythonizingBuildExt},
      options={"build_ext": {"parallel": True}})
