"""Data: published reference numbers (``reference``) and training data sets
(``datasets``).  Imports no other layer.
"""
