"""Generators of files derived from the API models: the CRD and the API reference."""
