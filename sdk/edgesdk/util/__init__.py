"""Infrastructure shared by all: data folders, the one Jinja environment, escaping, bounded readers."""
