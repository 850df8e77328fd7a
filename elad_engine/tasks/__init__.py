"""Tasks and their data: the embedded synthetic arithmetic task (generator and exact solutions) and the reader of
dataset files (JSONL, CSV, Parquet, JSON) with presets for public datasets' own layouts."""
