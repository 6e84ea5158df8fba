"""What a compressed layer is, below both `compress` (which chooses it) and `modelbin` (which
packs it): the plan (bits and sparsity per layer), the keep-masks, and the bit packing whose
byte counts both sides use. Imports only the ground layer."""
