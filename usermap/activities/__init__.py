"""Activities (DESIGN §10): impact and repair of the calls and texts logged to the wrong owner."""
