"""cnet's kernels and training loop compiled for x86-64-v4 (AVX-512); see cnet._cpu."""
