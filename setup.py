"""Build of the compiled core. Compiler directives and flags are set here, once.

ALPHAPULSE_DEBUG_BUILD=1   bounds checks on, no optimisation, C asserts kept
ALPHAPULSE_SANITIZE=address,undefined   build with those sanitizers (gcc/clang)
"""
import os
import sys

from Cython.Build import cythonize
from Cython.Compiler import Options
from setuptools import Extension, setup

DEBUG = os.environ.get("ALPHAPULSE_DEBUG_BUILD") == "1"
SANITIZE = os.environ.get("ALPHAPULSE_SANITIZE", "")

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

extension = Extension(
    "alphapulse_codec._codec",
    sources=["alphapulse_codec/_codec.pyx", "alphapulse_codec/_c/crc32.c"],
    include_dirs=["alphapulse_codec/_c"],
    depends=["alphapulse_codec/_c/crc32.h", "alphapulse_codec/_c/wire.h", "alphapulse_codec/_c/memory.h"],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

setup(ext_modules=cythonize([extension], compiler_directives=directives))
