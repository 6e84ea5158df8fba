"""The device preprocessing chain: one definition (chain.py, stored in model.bin META as `pp.*`),
its numpy integer reference (reference.py) and, in runtime_c/src/stream_*.c, its C twin. The
two are bit-exact: every step is integer arithmetic with one stated rounding."""
