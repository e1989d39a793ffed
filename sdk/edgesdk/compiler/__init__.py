"""Compiler: from a model file to the IR, the kernel table, the arena plan and the footprint."""
