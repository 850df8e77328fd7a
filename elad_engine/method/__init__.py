"""The method as pure code: records passed between the parts, the explanation format, uncertainty scores,
selection strategies, teacher cost and revision assembly. Nothing here imports torch or touches SQLite."""
