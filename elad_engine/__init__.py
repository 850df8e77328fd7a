"""ELAD Studio engine: explanation-guided active distillation of a teacher LLM into a small student.

Run headless with `python -m elad_engine --help`. This package never imports streamlit.
"""

__version__ = "0.1.0"
