"""Local experiments behind the README's recommendations: each patches one thing in its own process
only (never the repository's code) and measures the difference against the running local stack."""
