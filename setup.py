"""Build cnet's Cython kernels into extension modules inside the ``cnet`` package.

Environment switches:

CNET_NATIVE=1
    compile for the building machine's CPU (``-march=native``); the wheel then runs only on
    CPUs with the same instruction sets, so it is off by default.
CNET_DEBUG=1
    turn Cython's bounds and wraparound checks back on, to hunt memory errors.
"""
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_kernels", "_train"]


def compile_args():
    if sys.platform == "win32":
        return ["/O2"]
    # -fno-trapping-math lets gcc if-convert and vectorize loops with float compares and
    # selects (the stable sigmoid, relu); it changes no result, only the assumption that
    # floating-point exceptions trap, which Python never enables.
    args = ["-O3", "-fno-trapping-math"]
    if os.environ.get("CNET_NATIVE") == "1":
        args.append("-march=native")
    return args


def extensions():
    debug = os.environ.get("CNET_DEBUG") == "1"
    exts = [
        Extension(
            f"cnet.{name}",
            [f"src_c/{name}.pyx"],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=compile_args(),
            # Linking libm binds exp/log1p to their current versions instead of the old
            # error-reporting wrappers that an unversioned reference falls back to.
            libraries=[] if sys.platform == "win32" else ["m"],
        )
        for name in MODULES
    ]
    return cythonize(
        exts,
        include_path=["src_c"],
        compiler_directives={
            "language_level": 3,
            # Every entry point checks shapes before the loops; CNET_DEBUG re-checks each index.
            "boundscheck": debug,
            "wraparound": debug,
            "initializedcheck": debug,
            "cdivision": True,
        },
    )


setup(ext_modules=extensions())
