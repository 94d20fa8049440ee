"""Load scenarios: each drives its share of clients in one process."""
