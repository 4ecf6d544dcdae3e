"""The local stack: lab, embedded AWS services (moto's server) and the API on loopback."""
