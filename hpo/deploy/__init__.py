"""Product: promote, model card, export and serve."""
