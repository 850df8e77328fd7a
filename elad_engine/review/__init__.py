"""What a reviewer sees and does: the filtered review queue and claims (queue.py), one sample laid out step by step
(sample_view.py), and the decisions with their overlap voting and conflicts (decisions.py)."""
