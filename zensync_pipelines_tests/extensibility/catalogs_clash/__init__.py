"""Catalog specs of a test: the shipped customers beside the contacts fixture."""
