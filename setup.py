"""Build cnet's Cython kernels into extension modules inside the ``cnet`` package.

On x86-64 with gcc or clang, the kernels and the training loop are built three times: for the
baseline x86-64 (``cnet._kernels``, ``cnet._train``), for x86-64-v3 (AVX2 and FMA, in
``cnet._avx2``) and for x86-64-v4 (AVX-512, in ``cnet._avx512``). ``cnet._cpu`` picks the best
one the CPU supports at import, as numpy and OpenBLAS pick theirs. Other platforms get the
baseline only.

Environment switches:

CNET_NATIVE=1
    compile for the building machine's CPU (``-march=native``); the wheel then runs only on
    CPUs with the same instruction sets, so it is off by default.
CNET_DEBUG=1
    turn Cython's bounds and wraparound checks back on, to hunt memory errors.
CNET_VARIANTS=0
    build the baseline only (a faster build, for development).
CNET_SANITIZE=1
    compile and link with AddressSanitizer and UndefinedBehaviorSanitizer
    (``-fsanitize=address,undefined -fno-omit-frame-pointer``), to hunt memory errors and
    undefined behaviour in the compiled code. Python itself is not instrumented, so the
    sanitizer runtime must be loaded first: ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``
    (``scripts/sanitize.sh`` builds this way into a scratch copy and runs the tests). gcc
    or clang only.
"""
import os
import platform
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_kernels", "_train"]
# The instruction sets of each variant beyond the baseline, spelled feature by feature (which
# gcc and clang of any recent age accept): x86-64-v3's vector and bit-manipulation sets and
# x86-64-v4's AVX-512. They are exactly the features cnet._kernels.cpu_level checks; v3's
# F16C, LZCNT and MOVBE are left out, since the kernels have no use for them.
X86_64_V3 = ["-mavx", "-mavx2", "-mfma", "-mbmi", "-mbmi2"]
X86_64_V4 = X86_64_V3 + ["-mavx512f", "-mavx512bw", "-mavx512cd", "-mavx512dq", "-mavx512vl"]
VARIANTS = {"baseline": [], "avx2": X86_64_V3, "avx512": X86_64_V4}


def compile_args():
    if sys.platform == "win32":
        return ["/O2"]
    # -fno-trapping-math lets gcc if-convert and vectorize loops with float compares and
    # selects (the stable sigmoid, relu); it changes no result, only the assumption that
    # floating-point exceptions trap, which Python never enables.
    # -fno-math-errno lets gcc use the vector square root (Adam's update): with errno semantics
    # every sqrt keeps a scalar call for negative inputs. No result changes; nothing reads errno.
    args = ["-O3", "-fno-trapping-math", "-fno-math-errno"]
    if os.environ.get("CNET_NATIVE") == "1":
        args.append("-march=native")
    return args + sanitize_args()


def sanitize_args():
    """The sanitizer flags CNET_SANITIZE=1 asks for, at compile and at link time."""
    if os.environ.get("CNET_SANITIZE") != "1" or sys.platform == "win32":
        return []
    return ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]


def variants():
    """The variants to build: all three on x86-64 with gcc or clang, else the baseline."""
    x86_64 = platform.machine().lower() in ("x86_64", "amd64")
    if (not x86_64 or sys.platform == "win32" or os.environ.get("CNET_VARIANTS") == "0"
            or os.environ.get("CNET_NATIVE") == "1"):
        return {"baseline": []}
    return VARIANTS


def extensions():
    debug = os.environ.get("CNET_DEBUG") == "1"
    built = []
    for variant, flags in variants().items():
        package = "cnet" if variant == "baseline" else f"cnet._{variant}"
        exts = [
            Extension(
                f"{package}.{name}",
                [f"src_c/{name}.pyx"],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=compile_args() + flags,
                extra_link_args=sanitize_args(),
                # Linking libm binds exp/log1p to their current versions instead of the old
                # error-reporting wrappers that an unversioned reference falls back to.
                libraries=[] if sys.platform == "win32" else ["m"],
            )
            for name in MODULES
        ]
        built += cythonize(
            exts,
            include_path=["src_c"],
            # Each variant's C is generated apart: the module name is written into it.
            build_dir=None if variant == "baseline" else f"build/cython-{variant}",
            compiler_directives={
                "language_level": 3,
                # Every entry point checks shapes before the loops; CNET_DEBUG re-checks each
                # index.
                "boundscheck": debug,
                "wraparound": debug,
                "initializedcheck": debug,
                "cdivision": True,
            },
        )
    return built


# Two compilers at once: the variants are independent, and a 2-core machine builds all six
# modules in about the time of three.
setup(ext_modules=extensions(), options={"build_ext": {"parallel": os.cpu_count() or 1}})
