"""All SQL lives here: the single writer, numbered migrations, and one module per table or tight group.

The data model (SQLite by default; every table is scoped by tenant, and user where it has one):

- `messages`: every published message (user, session, request, position, role, content, time).
- `jobs`: one per request (a published interaction, a re-extraction): status, attempts, error, token
  usage, and the payload hash that makes a retried publish a no-op.
- `facts` and `fact_vectors`: facts with kind, status, supersede chain, origin and config version; each
  fact's embedding beside it, so a user's facts are scored exactly and the index can be rebuilt.
- `vector_ops`: the outbox of fact ids whose vector-index entry must be brought in line after commit.
- `changelog`: every add, update, supersede, expire, delete and purge of a fact, and the tenant's key and
  access events, written in the same transaction as the change.
- `config_versions`: the operator-edited extraction config, one row per version and tenant.
- `api_keys`: sha256 hashes of keys with their tenant and role; revoked keys are kept.

Functions take the `Database` (reads, or writes that are a transaction of their own) or the connection of
a transaction the caller holds (`Database.transaction()`), never the whole service. Rows are read by
column name. Nothing outside this package knows which database it talks to.
"""
