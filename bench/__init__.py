"""hookrelay's reproducible benchmark, against a naive baseline measured in the same run."""
