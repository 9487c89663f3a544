"""Compatibility routers for other memory products' APIs (and, later, the agent plugin).

Each router translates a product's request and response shapes onto `memory_server.service`; adapters
depend on the service, never the other way round.
"""
