"""Teachers: the protocol and backend registry (protocol.py), the shared dispatch of requests with the request
cache, budget and ledger (dispatch.py), prompts and their JSON parsers (prompts.py), and the backends: the exact
arithmetic oracle (oracle.py) and any OpenAI-compatible endpoint (openai_compat.py)."""
