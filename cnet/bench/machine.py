"""What the benchmark's numbers depend on: the machine, the libraries and their threads."""
import os
import platform
import subprocess

import numpy as np
import sklearn
from threadpoolctl import threadpool_info

import cnet
from cnet import _cpu
from cnet.bench import jax_peer, numba_peer
from cnet.bench.peers import torch


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else from lscpu, else what platform knows."""
    try:
        fields = {}
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break   # the first processor's block is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
        if fields.get("model name"):
            # Virtual machines often name the CPU vaguely ("AMD EPYC"); family and model
            # tell its generation.
            extra = [f"{k} {fields[k]}" for k in ("cpu family", "model") if fields.get(k)]
            return fields["model name"] + (f" ({', '.join(extra)})" if extra else "")
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def load_average():
    """The 1-minute load average, or None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine_info():
    """What the numbers depend on: CPU, cores, library versions, BLAS and their threads."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    pools = [{"user_api": p.get("user_api"), "internal_api": p.get("internal_api"),
              "version": p.get("version"), "num_threads": p.get("num_threads"),
              "file": os.path.basename(p.get("filepath", ""))} for p in threadpool_info()]
    return {
        "cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable,
        "load_average_at_start": load_average(),
        "platform": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "scikit-learn": sklearn.__version__,
        "cnet": getattr(cnet, "__version__", "?"), "cnet_build": _cpu.active(),
        "torch": torch.__version__ if torch is not None else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "jax": jax_peer.version(), "numba": numba_peer.version(),
        "threadpools": pools,
    }


def print_header(info):
    """Print the machine description."""
    print(f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), "
          f"{info['platform']}")
    print(f"python {info['python']}, numpy {info['numpy']}, scikit-learn "
          f"{info['scikit-learn']}, cnet {info['cnet']} ({info['cnet_build']} build), torch "
          f"{info['torch'] or 'not installed'}"
          + (f" ({info['torch_threads']} threads)" if info["torch"] else "")
          + f", jax {info['jax'] or 'not installed'}, numba {info['numba'] or 'not installed'}")
    for p in info["threadpools"]:
        print(f"  {p['internal_api']:<9} {p['version'] or '-':<14} {p['num_threads']:>3} threads"
              f"  {p['file']}")
    load = info["load_average_at_start"]
    if load is not None:
        # Other processes make the times noisy; on a few cores they can swamp them.
        print(f"load average (1 min) at start: {load:.2f} on {info['usable_cores']} cores")
    missing = [name for name in ("torch", "jax", "numba") if info[name] is None]
    if missing:
        print(f"not installed: {', '.join(missing)}; their columns say so "
              f"(install them with: pip install 'cnet-mlp[bench]')")
    print()
