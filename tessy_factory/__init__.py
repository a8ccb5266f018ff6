"""Tessy Factory: synthesise student-consistent SFT data with the TESSY method.

The core package holds plain Python with no Prefect imports; `tasks/` and `flows/` wrap it.
"""

__version__ = "0.1.0"
