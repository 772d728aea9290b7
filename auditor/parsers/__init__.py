"""Parsers shared by checks: one place for each file format, all pure functions."""
