"""Training boundary predictors: data, training, evaluation and the registry."""
