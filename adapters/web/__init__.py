"""`spoke serve`: one aiohttp server for every chat platform's webhook, and the outbox pump."""
