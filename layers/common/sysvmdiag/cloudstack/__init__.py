"""Reading a zone from a CloudStack management server: signed list calls, and their mapping to a Topology."""
