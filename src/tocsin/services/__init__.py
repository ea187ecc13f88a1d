"""The one way in: the incident lifecycle, the alert pipeline, config as code, postmortems."""
