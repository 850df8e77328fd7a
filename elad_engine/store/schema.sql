-- ELAD Studio workspace schema, version 10 (database.py SCHEMA_VERSION), for a new workspace; migrations.py takes an
-- older one here. Status columns are CHECKed against the enums of elad_engine/states.py (tests/test_states.py).
CREATE TABLE IF NOT EXISTS projects (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, config TEXT NOT NULL, created_at REAL NOT NULL,
  prompt_style TEXT, guidelines TEXT,
  student_source TEXT);  -- the base student as resolved (JSON): a hub id's commit, pinned for every round
CREATE TABLE IF NOT EXISTS imports (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id), source TEXT NOT NULL,
  rows INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS examples (
  project_id INTEGER NOT NULL REFERENCES projects(id), id TEXT NOT NULL, split TEXT NOT NULL,
  question TEXT NOT NULL, answer TEXT NOT NULL, rationale TEXT, choices TEXT, difficulty INTEGER,
  meta TEXT, import_id INTEGER REFERENCES imports(id), PRIMARY KEY (project_id, id));
CREATE TABLE IF NOT EXISTS rounds (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done')), stop_reason TEXT,
  started_at REAL, finished_at REAL, PRIMARY KEY (project_id, round));
CREATE TABLE IF NOT EXISTS phases (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL,
  phase TEXT NOT NULL CHECK (phase IN ('baseline', 'explain', 'score', 'select', 'revise', 'review', 'train',
                                       'evaluate')),
  status TEXT NOT NULL CHECK (status IN ('done', 'waiting', 'closed')),
  seconds REAL, detail TEXT, finished_at REAL, tokens INTEGER, PRIMARY KEY (project_id, round, phase));
CREATE TABLE IF NOT EXISTS explanations (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL, example_id TEXT NOT NULL, kind TEXT NOT NULL,
  sample_idx INTEGER NOT NULL, text TEXT NOT NULL, steps TEXT NOT NULL, answer TEXT,
  probe_answers TEXT, probe_probs TEXT, answer_entropy REAL, mean_nll REAL,
  PRIMARY KEY (project_id, round, example_id, kind, sample_idx));
CREATE TABLE IF NOT EXISTS scores (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL, example_id TEXT NOT NULL, strategy TEXT NOT NULL,
  score REAL NOT NULL, components TEXT, PRIMARY KEY (project_id, round, example_id, strategy));
CREATE TABLE IF NOT EXISTS selections (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL, example_id TEXT NOT NULL, rank INTEGER NOT NULL,
  strategy TEXT NOT NULL, score REAL,
  status TEXT NOT NULL DEFAULT 'selected' CHECK (status IN ('selected', 'over_budget')),
  PRIMARY KEY (project_id, round, example_id));
CREATE TABLE IF NOT EXISTS teacher_calls (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, round INTEGER NOT NULL, example_id TEXT,
  purpose TEXT NOT NULL, model TEXT, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL, created_at REAL NOT NULL, cache_key TEXT, cached INTEGER NOT NULL DEFAULT 0,
  simulated INTEGER NOT NULL DEFAULT 0);  -- simulated: computed from the data (oracle, reference), not an LLM's
CREATE INDEX IF NOT EXISTS teacher_calls_key ON teacher_calls (project_id, cache_key);
-- Every paid teacher reply, by cache_key (prompt version, model, messages, parameters): a rerun or a resume
-- after a crash reads it from here instead of paying again. Shared by the workspace's projects.
CREATE TABLE IF NOT EXISTS teacher_cache (
  key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL, finish_reason TEXT,
  prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS revisions (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, round INTEGER NOT NULL, example_id TEXT NOT NULL,
  mode TEXT NOT NULL, teacher TEXT NOT NULL, prompt_version TEXT, student_text TEXT, verdicts TEXT,
  first_error INTEGER, revised_steps TEXT, answer TEXT, text TEXT, prompt_tokens INTEGER,
  completion_tokens INTEGER, cost_usd REAL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'teacher_failed', 'conflict', 'approved', 'edited', 'rejected')),
  raw TEXT, error TEXT,
  final_text TEXT, created_at REAL NOT NULL, replies TEXT, UNIQUE (project_id, round, example_id));
CREATE TABLE IF NOT EXISTS reviews (
  id INTEGER PRIMARY KEY, revision_id INTEGER NOT NULL REFERENCES revisions(id), action TEXT NOT NULL,
  reviewer TEXT NOT NULL, edited_text TEXT, reason TEXT, created_at REAL NOT NULL,
  undoes INTEGER REFERENCES reviews(id));  -- an undo row withdraws the review it names; neither is ever changed
-- The loss of each optimiser step, written while training runs (a live curve), rewritten when a round retrains.
CREATE TABLE IF NOT EXISTS training_losses (
  project_id INTEGER NOT NULL REFERENCES projects(id), round INTEGER NOT NULL, step INTEGER NOT NULL,
  loss REAL NOT NULL, PRIMARY KEY (project_id, round, step));
CREATE TABLE IF NOT EXISTS training_runs (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL, method TEXT NOT NULL, samples INTEGER NOT NULL,
  steps INTEGER, tokens INTEGER, seconds REAL, final_loss REAL, losses TEXT, checkpoint TEXT,
  checkpoint_sha256 TEXT,  -- of the checkpoint folder as published; checked before it is loaded
  base_model TEXT,  -- the base student it was trained on: a hub id@commit, or the student.path as resolved
  dtype TEXT,  -- the weights' dtype while training (float32, bfloat16): what the merged export is written in
  PRIMARY KEY (project_id, round));
CREATE TABLE IF NOT EXISTS metrics (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL, accuracy REAL, base_accuracy REAL,
  by_difficulty TEXT, test_size INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL,
  approved INTEGER, edited INTEGER, rejected INTEGER, teacher_failed INTEGER, phase_seconds TEXT,
  created_at REAL, format_ok REAL, base_format_ok REAL, pool_format_ok REAL, correct TEXT,
  PRIMARY KEY (project_id, round));
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY, project_id INTEGER,
  kind TEXT NOT NULL CHECK (kind IN ('rounds', 'export', 'reask', 'try', 'student')), args TEXT,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'stopping', 'paused', 'cancelled', 'done', 'failed')),
  progress INTEGER DEFAULT 0, total INTEGER DEFAULT 0, message TEXT, error TEXT, worker_pid INTEGER,
  heartbeat REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL, phase TEXT, phase_started REAL,
  phase_start_done INTEGER DEFAULT 0, result TEXT,  -- result: what a job hands back (JSON), e.g. a try-out answer
  -- lease: the generation of the worker's hold on a running job; every write the job makes checks it (fencing)
  lease INTEGER NOT NULL DEFAULT 0, lease_expires REAL);
CREATE TABLE IF NOT EXISTS job_log (
  id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, created_at REAL NOT NULL, line TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS job_log_by_job ON job_log(job_id);
CREATE TABLE IF NOT EXISTS review_claims (
  revision_id INTEGER PRIMARY KEY, reviewer TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL, created_at REAL NOT NULL,
  active INTEGER NOT NULL DEFAULT 1);
-- A browser session: the sha256 of its random token (the token itself lives only in the browser's cookie).
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name), created_at REAL NOT NULL,
  expires_at REAL NOT NULL, revoked_at REAL);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user);
CREATE TABLE IF NOT EXISTS workers (pid INTEGER PRIMARY KEY, started_at REAL NOT NULL, heartbeat REAL NOT NULL);
CREATE INDEX IF NOT EXISTS reviews_by_revision ON reviews(revision_id);
CREATE INDEX IF NOT EXISTS revisions_by_status ON revisions(project_id, status);
-- The review log is append-only: history is never rewritten.
CREATE TRIGGER IF NOT EXISTS reviews_no_update BEFORE UPDATE ON reviews
  BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_no_delete BEFORE DELETE ON reviews
  BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
-- Students registered in the workspace (a GGUF file converted once into a model folder under artifacts/students/).
CREATE TABLE IF NOT EXISTS students (
  name TEXT PRIMARY KEY, label TEXT NOT NULL, path TEXT NOT NULL, source TEXT, sha256 TEXT, parameters INTEGER,
  created_at REAL NOT NULL,
  base_model_id TEXT,  -- the hub id of the model the file packages (given at registration), never a path
  license TEXT);  -- the base model's licence id (the GGUF file's general.license), when known
