"""Reading hubspot_owners.json: one entry (read), an exact reader, a fast one beside it."""
