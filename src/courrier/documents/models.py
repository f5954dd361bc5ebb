"""Documents stored in a client's file."""
