"""model.bin: the packed format (export/FORMAT.md), its writer, reader and integer executor."""
