"""Export a round's student as a team deploys it: folder.py writes the export (adapter, merged model, prompt style,
approved data), cards.py its model cards, gguf_files.py the GGUF files through llama.cpp's own tools, modelfile.py
the Ollama Modelfile. `python -m elad_engine export --project NAME [--round N]`.
"""

from .folder import MARKER, PARTS, best_round, export_round, exports, zip_folder

__all__ = ["MARKER", "PARTS", "best_round", "export_round", "exports", "zip_folder"]
