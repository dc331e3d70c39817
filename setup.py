"""Build cnet's Cython kernels into extension modules inside the ``cnet`` package.

The raw kernel entry points (``cnet._kernels``) are built once, for the baseline x86-64. The
training loop, where the time goes, is built per CPU variant: on x86-64 with gcc or clang, for
the baseline (``cnet._train``) and for x86-64-v3 (AVX2 and FMA, ``cnet._avx2._train``), and
where the building CPU has AVX-512 for x86-64-v4 too (AVX-512, ``cnet._avx512._train``; see
CNET_AVX512 below). ``cnet._cpu`` picks the best build the CPU supports at import, as numpy and
OpenBLAS pick theirs. Other platforms get the baseline only.

Environment switches:

CNET_NATIVE=1
    compile for the building machine's CPU (``-march=native``); the wheel then runs only on
    CPUs with the same instruction sets, so it is off by default.
CNET_DEBUG=1
    turn Cython's bounds and wraparound checks back on, to hunt memory errors.
CNET_VARIANTS=0
    build the baseline only (a faster build, for development).
CNET_AVX512=1 / CNET_AVX512=0
    build the AVX-512 variant of the training loop, or not. By default it is built when the
    building machine has AVX-512: there it runs the smallest networks 5-25 % faster, for a
    third more build time; on any other machine it could not run, so it is not built (see
    README, Building).
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
import shutil
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# Every module is built for the baseline; only the training loop for the other variants.
MODULES = ["_kernels", "_train"]
VARIANT_MODULES = ["_train"]
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
    # Python's own CFLAGS ask for debug information (-g), a fifth of the compile time; it
    # changes no instruction (the hot loop's object code is the same byte for byte), so a
    # release build goes without. CNET_DEBUG and CNET_SANITIZE builds keep it for debuggers.
    if os.environ.get("CNET_DEBUG") != "1" and os.environ.get("CNET_SANITIZE") != "1":
        args.append("-g0")
    return args + sanitize_args()


def sanitize_args():
    """The sanitizer flags CNET_SANITIZE=1 asks for, at compile and at link time."""
    if os.environ.get("CNET_SANITIZE") != "1" or sys.platform == "win32":
        return []
    return ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]


def building_cpu_has_avx512():
    """Whether this machine's CPU has every AVX-512 set of the avx512 variant (Linux's
    /proc/cpuinfo; False where that cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return {"avx512f", "avx512bw", "avx512cd", "avx512dq",
                            "avx512vl"} <= flags
    except OSError:
        pass
    return False


def variants():
    """The variants to build: baseline and AVX2 on x86-64 with gcc or clang, and AVX-512 where
    the building CPU has it (or CNET_AVX512 says so); else the baseline."""
    x86_64 = platform.machine().lower() in ("x86_64", "amd64")
    if (not x86_64 or sys.platform == "win32" or os.environ.get("CNET_VARIANTS") == "0"
            or os.environ.get("CNET_NATIVE") == "1"):
        return {"baseline": []}
    avx512 = os.environ.get("CNET_AVX512")
    if avx512 == "1" or (avx512 != "0" and building_cpu_has_avx512()):
        return VARIANTS
    return {name: flags for name, flags in VARIANTS.items() if name != "avx512"}


def extension(name, package, sources, flags):
    """The extension module ``package.name`` compiled from sources with the variant's flags."""
    return Extension(
        f"{package}.{name}",
        sources,
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args() + flags,
        extra_link_args=sanitize_args(),
        # Linking libm binds exp/log1p to their current versions instead of the old
        # error-reporting wrappers that an unversioned reference falls back to.
        libraries=[] if sys.platform == "win32" else ["m"],
    )


def extensions():
    debug = os.environ.get("CNET_DEBUG") == "1"
    baseline = cythonize(
        [extension(name, "cnet", [f"src_c/{name}.pyx"], []) for name in MODULES],
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
    # The other variants compile the baseline's C with their own flags. Cython would write the
    # same C again but for the module name in it, which only names the functions' __module__:
    # the import system names the module by where it finds it (multi-phase init, PEP 489).
    # Each gets its own copy, so that its object file is its own (build_ext names the object
    # after the source, and compiles in parallel).
    generated = {ext.name.rsplit(".", 1)[1]: ext.sources[0] for ext in baseline}
    built = list(baseline)
    for variant, flags in variants().items():
        if variant == "baseline":
            continue
        for name in VARIANT_MODULES:
            source = os.path.join("build", f"c-{variant}", os.path.basename(generated[name]))
            os.makedirs(os.path.dirname(source), exist_ok=True)
            shutil.copyfile(generated[name], source)
            built.append(extension(name, f"cnet._{variant}", [source], flags))
    return built


# Two compilers at once: the modules are independent.
setup(ext_modules=extensions(), options={"build_ext": {"parallel": os.cpu_count() or 1}})
