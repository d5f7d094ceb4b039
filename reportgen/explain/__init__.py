"""LIME explainers: one module per kind of input; each turns LIME and numpy objects into plain values."""
