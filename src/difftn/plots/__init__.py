"""Figures: one module per study; each function takes datasets and returns a matplotlib Figure.

``common.save_figure`` writes PNG + PDF.  Figure rules hash only the plotting
modules they use, so a style change redraws figures without recomputing.
"""
