"""Infrastructure: atomic result files (``io``), provenance attributes
(``provenance``), device, dtype and threads (``runtime``).  Imports no other layer.
"""
