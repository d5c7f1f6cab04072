"""A simulated web and card generator: used by `linkcheck demo`, the tests and the benchmarks."""
