"""Background work: RQ workers, job entry points and periodic sweeps."""
