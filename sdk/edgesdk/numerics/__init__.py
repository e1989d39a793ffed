"""Numerics: integer and transform math shared by the reference, the passes and both backends."""
