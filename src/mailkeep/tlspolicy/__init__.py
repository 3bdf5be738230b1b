"""tlspolicy."""
