"""The embedded services: each a real server process supervised by pid."""
