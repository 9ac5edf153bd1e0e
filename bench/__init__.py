"""Load benchmark: a closed-loop load generator, a naive baseline server, and `make bench`."""
