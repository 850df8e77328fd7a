"""Streamlit-only helpers for the pages: cached engine handles and shared widgets (no engine logic here)."""
