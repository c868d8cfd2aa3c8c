"""Product: the sweep report (pictures, warning rules, HTML page) and the CLI's text tables."""
