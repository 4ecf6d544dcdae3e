"""The pipeline's use cases (admission, synchronous run, jobs, audit trail, listing) behind ports."""
