"""The round loop (loop.py: ordering, resume, stop rules), the context its phases share (context.py), one module per
phase with their registry (phases/), and the cost estimate of the next round (estimate.py)."""
