"""Reporters: every one reads the same frozen RunReport; JSON is built in one place."""
