"""npbackprop.bench: benchmarks of the training step, beside eager torch when installed.

An application on the core, never imported by it: harness.py (the machine,
BLAS threads, interleaved timing, torch's lazy import), tables.py (the step
table, threads, scaling, the full run), torch_variants.py (the eager torch
steps; the only module of npbackprop that imports torch), loop.py (train's
loop against the step alone), compare.py and jax_variants.py (JAX jit and
lax.scan beside npbackprop; the only module that imports jax) and command.py
(`npbackprop bench`).
"""
