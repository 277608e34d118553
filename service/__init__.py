"""zoorank service: settings, ranking pipeline, CLI (and later the HTTP API and job engine)."""
