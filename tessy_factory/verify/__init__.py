"""Verification: pull the program out of a generated answer, run it against tests, give a verdict.

`extract` finds the program, `runner` runs one program under limits (with `supervise` between
it and the program), `judge` turns runs into a verdict per sample.
"""
