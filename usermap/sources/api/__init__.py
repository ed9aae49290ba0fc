"""The two APIs: HubSpot's owners, Aloware's users, bounded retries and deadlines, the fetch."""
