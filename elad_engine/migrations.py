"""Schema migrations, data only: the SQL that takes a workspace database from version N to N+1 (store.py
runs them in order, each in one transaction). A new workspace gets schema.sql whole instead."""

# Migrations from version N to N+1, in order; each is SQL run in one transaction.
MIGRATIONS: dict[int, str] = {1: """
ALTER TABLE teacher_calls ADD COLUMN cache_key TEXT;
ALTER TABLE teacher_calls ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS teacher_calls_key ON teacher_calls (project_id, cache_key);
CREATE TABLE IF NOT EXISTS teacher_cache (
  key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL, finish_reason TEXT,
  prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created_at REAL NOT NULL);
""", 2: """
ALTER TABLE jobs ADD COLUMN phase TEXT;
ALTER TABLE jobs ADD COLUMN phase_started REAL;
ALTER TABLE jobs ADD COLUMN phase_start_done INTEGER DEFAULT 0;
CREATE TABLE IF NOT EXISTS job_log (
  id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, created_at REAL NOT NULL, line TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS job_log_by_job ON job_log(job_id);
CREATE TABLE IF NOT EXISTS workers (pid INTEGER PRIMARY KEY, started_at REAL NOT NULL, heartbeat REAL NOT NULL);
""", 3: """
CREATE TABLE IF NOT EXISTS review_claims (
  revision_id INTEGER PRIMARY KEY, reviewer TEXT NOT NULL, expires_at REAL NOT NULL);
""", 4: """
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL, created_at REAL NOT NULL);
"""}
