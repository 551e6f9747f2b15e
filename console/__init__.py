"""The staff console: static pages served by the gateway under /staff/, talking to the staff APIs."""
