"""The naive baseline: the webhook sender a team writes by hand, measured beside hookrelay."""
