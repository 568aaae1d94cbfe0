"""hookrelay's Celery side. Importing this package does nothing."""
