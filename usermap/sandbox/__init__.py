"""The sandbox: a scenario generator and a local HTTP server speaking both APIs."""
