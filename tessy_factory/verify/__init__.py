"""Verification: pull the program out of a generated answer, run it against tests, give a verdict.

`extract` finds the program, `languages` checks or compiles it, `sandbox` runs it isolated
under limits (with the supervisor, `supervise.c`, between it and the judge),
`assert_checker` runs assert-style tests on the program from a process of its own, `compare`
checks its output, `judge` turns runs into a verdict per sample, and `selfcheck` proves at
the start of a build that the sandbox still contains what it must.
"""
