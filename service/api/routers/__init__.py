"""One router per resource: rankings, jobs, models, scorers, datasets, health, metrics."""
