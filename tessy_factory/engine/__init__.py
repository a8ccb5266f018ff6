"""Cooperative generation: the TESSY loop, its baseline modes, models and boundary predictors."""
