"""Benchmarks: every performance figure the README claims, measured and written as JSON."""
