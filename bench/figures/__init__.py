"""One module per benchmark; each registers itself with `bench.registry.register`."""
