"""Drop-in replacements for graph libraries, backed by walkdb.

``from walkdb.compat import igraph as ig`` replaces ``import igraph as ig`` for the part of
python-igraph that HippoRAG-style retrieval uses.
"""
