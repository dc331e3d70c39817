"""cnet's kernels and training loop compiled for x86-64-v3 (AVX2, FMA); see cnet._cpu."""
