"""Business actions. Each takes a Session and leaves committing to its caller."""
