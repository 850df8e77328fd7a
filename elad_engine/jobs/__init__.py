"""Long work outside the web app's script runs: the job queue the app writes (queue.py) and the worker process
that claims and runs its jobs, with heartbeats, stop requests and resume (worker.py)."""
