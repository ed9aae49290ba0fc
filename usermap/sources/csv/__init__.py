"""Reading the CSV files (snapshot users, mappings, admin export): one entry, exact and fast."""
