"""Embeddings and the vector index: how text becomes vectors, and the rebuildable copy of them in Chroma.

SQLite (the store) keeps every vector beside its fact; the index here answers approximate nearest-neighbour
queries over everyone's vectors and is kept in line with SQLite through the `vector_ops` outbox (`sync`).
"""
