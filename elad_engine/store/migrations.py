"""Schema migrations, data only: what takes a workspace database from version N to N+1 (database.py runs them in
order, all in one transaction). A new workspace gets schema.sql whole instead. Migrations are history: they are
never edited once released, so each one spells out its own tables rather than reading schema.sql.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Migration:
    """`sql` runs first; then each table in `rebuild` is recreated from its CREATE TABLE statement (with `{name}`
    for the table's name) keeping every row, the way SQLite adds constraints; then `after` runs."""

    sql: str = ""
    rebuild: dict[str, str] = field(default_factory=dict)
    after: str = ""


# Migrations from version N to N+1, in order.
MIGRATIONS: dict[int, Migration] = {1: Migration("""
ALTER TABLE teacher_calls ADD COLUMN cache_key TEXT;
ALTER TABLE teacher_calls ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS teacher_calls_key ON teacher_calls (project_id, cache_key);
CREATE TABLE IF NOT EXISTS teacher_cache (
  key TEXT PRIMARY KEY, model TEXT NOT NULL, content TEXT NOT NULL, finish_reason TEXT,
  prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, created_at REAL NOT NULL);
"""), 2: Migration("""
ALTER TABLE jobs ADD COLUMN phase TEXT;
ALTER TABLE jobs ADD COLUMN phase_started REAL;
ALTER TABLE jobs ADD COLUMN phase_start_done INTEGER DEFAULT 0;
CREATE TABLE IF NOT EXISTS job_log (
  id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, created_at REAL NOT NULL, line TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS job_log_by_job ON job_log(job_id);
CREATE TABLE IF NOT EXISTS workers (pid INTEGER PRIMARY KEY, started_at REAL NOT NULL, heartbeat REAL NOT NULL);
"""), 3: Migration("""
CREATE TABLE IF NOT EXISTS review_claims (
  revision_id INTEGER PRIMARY KEY, reviewer TEXT NOT NULL, expires_at REAL NOT NULL);
"""), 4: Migration("""
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL, created_at REAL NOT NULL);
"""),
    5: Migration(rebuild={  # CHECK constraints on the status columns (the enums of elad_engine/states.py)
        "rounds": """CREATE TABLE {name} (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done')), stop_reason TEXT,
  started_at REAL, finished_at REAL, PRIMARY KEY (project_id, round))""",
        "phases": """CREATE TABLE {name} (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL,
  phase TEXT NOT NULL CHECK (phase IN ('baseline', 'explain', 'score', 'select', 'revise', 'review', 'train',
                                       'evaluate')),
  status TEXT NOT NULL CHECK (status IN ('done', 'waiting', 'closed')),
  seconds REAL, detail TEXT, finished_at REAL, PRIMARY KEY (project_id, round, phase))""",
        "selections": """CREATE TABLE {name} (
  project_id INTEGER NOT NULL, round INTEGER NOT NULL, example_id TEXT NOT NULL, rank INTEGER NOT NULL,
  strategy TEXT NOT NULL, score REAL,
  status TEXT NOT NULL DEFAULT 'selected' CHECK (status IN ('selected', 'over_budget')),
  PRIMARY KEY (project_id, round, example_id))""",
        "revisions": """CREATE TABLE {name} (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, round INTEGER NOT NULL, example_id TEXT NOT NULL,
  mode TEXT NOT NULL, teacher TEXT NOT NULL, prompt_version TEXT, student_text TEXT, verdicts TEXT,
  first_error INTEGER, revised_steps TEXT, answer TEXT, text TEXT, prompt_tokens INTEGER,
  completion_tokens INTEGER, cost_usd REAL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'teacher_failed', 'conflict', 'approved', 'edited', 'rejected')),
  raw TEXT, error TEXT, final_text TEXT, created_at REAL NOT NULL, UNIQUE (project_id, round, example_id))""",
        "jobs": """CREATE TABLE {name} (
  id INTEGER PRIMARY KEY, project_id INTEGER, kind TEXT NOT NULL CHECK (kind IN ('rounds', 'export')), args TEXT,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'stopping', 'paused', 'cancelled', 'done', 'failed')),
  progress INTEGER DEFAULT 0, total INTEGER DEFAULT 0, message TEXT, error TEXT, worker_pid INTEGER,
  heartbeat REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL, phase TEXT, phase_started REAL,
  phase_start_done INTEGER DEFAULT 0)""",
    }, after="""
CREATE INDEX IF NOT EXISTS revisions_by_status ON revisions(project_id, status);
"""),
    6: Migration(sql="""
ALTER TABLE projects ADD COLUMN prompt_style TEXT;
ALTER TABLE phases ADD COLUMN tokens INTEGER;
ALTER TABLE revisions ADD COLUMN replies TEXT;
ALTER TABLE metrics ADD COLUMN format_ok REAL;
ALTER TABLE metrics ADD COLUMN base_format_ok REAL;
ALTER TABLE metrics ADD COLUMN pool_format_ok REAL;
CREATE TABLE IF NOT EXISTS students (
  name TEXT PRIMARY KEY, label TEXT NOT NULL, path TEXT NOT NULL, source TEXT, sha256 TEXT, parameters INTEGER,
  created_at REAL NOT NULL);
""", rebuild={  # a third job kind: asking the teacher again about one sample
        "jobs": """CREATE TABLE {name} (
  id INTEGER PRIMARY KEY, project_id INTEGER, kind TEXT NOT NULL CHECK (kind IN ('rounds', 'export', 'reask')),
  args TEXT,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'stopping', 'paused', 'cancelled', 'done', 'failed')),
  progress INTEGER DEFAULT 0, total INTEGER DEFAULT 0, message TEXT, error TEXT, worker_pid INTEGER,
  heartbeat REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL, phase TEXT, phase_started REAL,
  phase_start_done INTEGER DEFAULT 0)""",
    }),
    7: Migration(sql="""
ALTER TABLE metrics ADD COLUMN correct TEXT;
"""),  # the test ids the round's student answered right: paired comparisons between runs
    8: Migration(sql="""
ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name), created_at REAL NOT NULL,
  expires_at REAL NOT NULL, revoked_at REAL);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user);
ALTER TABLE reviews ADD COLUMN undoes INTEGER REFERENCES reviews(id);
ALTER TABLE projects ADD COLUMN guidelines TEXT;
ALTER TABLE training_runs ADD COLUMN checkpoint_sha256 TEXT;
CREATE TABLE IF NOT EXISTS training_losses (
  project_id INTEGER NOT NULL REFERENCES projects(id), round INTEGER NOT NULL, step INTEGER NOT NULL,
  loss REAL NOT NULL, PRIMARY KEY (project_id, round, step));
""", rebuild={  # a fourth job kind: trying a round's student on a question typed on the Export page
        "jobs": """CREATE TABLE {name} (
  id INTEGER PRIMARY KEY, project_id INTEGER,
  kind TEXT NOT NULL CHECK (kind IN ('rounds', 'export', 'reask', 'try')), args TEXT,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'stopping', 'paused', 'cancelled', 'done', 'failed')),
  progress INTEGER DEFAULT 0, total INTEGER DEFAULT 0, message TEXT, error TEXT, worker_pid INTEGER,
  heartbeat REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL, phase TEXT, phase_started REAL,
  phase_start_done INTEGER DEFAULT 0, result TEXT,
  lease INTEGER NOT NULL DEFAULT 0, lease_expires REAL)""",
    }),  # browser sessions that survive a refresh; deactivated accounts; a reviewer's undo (an appended row);
    # a project's review guidelines (markdown an admin writes); the loss of every step while training runs
    9: Migration(sql="""
ALTER TABLE projects ADD COLUMN student_source TEXT;
ALTER TABLE teacher_calls ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE training_runs ADD COLUMN base_model TEXT;
""", rebuild={  # a fifth job kind: fetching a student (a Hugging Face download, or a packaged model's install)
        "jobs": """CREATE TABLE {name} (
  id INTEGER PRIMARY KEY, project_id INTEGER,
  kind TEXT NOT NULL CHECK (kind IN ('rounds', 'export', 'reask', 'try', 'student')), args TEXT,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'stopping', 'paused', 'cancelled', 'done', 'failed')),
  progress INTEGER DEFAULT 0, total INTEGER DEFAULT 0, message TEXT, error TEXT, worker_pid INTEGER,
  heartbeat REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL, phase TEXT, phase_started REAL,
  phase_start_done INTEGER DEFAULT 0, result TEXT,
  lease INTEGER NOT NULL DEFAULT 0, lease_expires REAL)""",
    }, after="""
UPDATE teacher_calls SET simulated = 1 WHERE model = 'oracle';
"""),  # the pinned commit of a student named by its hub id; simulated teacher replies marked in the ledger; the
    # base student of every checkpoint
    10: Migration(sql="""
ALTER TABLE students ADD COLUMN base_model_id TEXT;
ALTER TABLE students ADD COLUMN license TEXT;
ALTER TABLE training_runs ADD COLUMN dtype TEXT;
"""),  # where a registered student came from as the hub names it, and its licence; the dtype a round trained in
}
