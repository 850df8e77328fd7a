"""Students named by their Hugging Face Hub id, the way ML teams name them: `student.path = "org/name"` or
`"org/name@revision"`. They resolve through the standard Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
~/.cache/huggingface/hub; $HF_HUB_OFFLINE respected); missing files are downloaded by a worker job (`download`, with
progress), never in a page. The commit a project resolved to is pinned with the project (and recorded with every
checkpoint), so every round loads the same weights, and a loaded pin reads only the cache: no network call.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import StudentError

# org/name, as the hub spells repository ids, with an optional @branch, tag or commit.
_HUB_ID = re.compile(r"^([A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})(?:@([\w./-]{1,128}))?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")  # org/name alone
_LICENSE = re.compile(r"^[A-Za-z0-9][\w.+-]{0,63}$")  # a licence id as model cards give it: apache-2.0, llama3.2
# What a causal LM needs: config, safetensors weights, tokenizer files and chat template; not ONNX, GGUF or
# pytorch_model.bin copies that many repositories carry beside them.
FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "tokenizer*"]
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


@dataclass(frozen=True)
class HubRef:
    """A hub id and the revision asked for (a branch, tag or commit; None: the default branch)."""

    repo_id: str
    revision: str | None = None

    @property
    def pinned(self) -> bool:
        """The revision is a commit: it names one set of files forever."""
        return bool(self.revision and _COMMIT.match(self.revision))

    def at(self, commit: str) -> HubRef:
        return HubRef(self.repo_id, commit)

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


def parse_hub_id(path: str) -> HubRef | None:
    """The hub id `path` names, or None when it is something else (a folder or file that exists, a .gguf file, a
    registered or shipped student)."""
    if not path or path.startswith(("bundled:", "student:", "/", ".", "~")) or path.lower().endswith(".gguf"):
        return None
    m = _HUB_ID.match(path)
    if m is None or Path(path).exists():  # a local folder of that name wins
        return None
    return HubRef(m.group(1), m.group(2))


def check_repo_id(value: str | None, where: str = "--base-model-id") -> str | None:
    """A hub id given by hand (org/name), or None when none was given. A path or anything else is refused: it would
    be written into every export as if another machine could find it."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not REPO_ID.match(value):
        raise StudentError(f"{where} = {value!r} is not a Hugging Face id: give it as org/name (for example "
                           "HuggingFaceTB/SmolLM2-135M-Instruct), or leave it out when the model has none.")
    return value


def license_id(value) -> str | None:
    """A licence id as a file's metadata or card gives it, or None when it is absent or not an id."""
    value = value[0] if isinstance(value, list) and value else value
    return value.strip() if isinstance(value, str) and _LICENSE.match(value.strip()) else None


def cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not when huggingface_hub was imported)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def cached(ref: HubRef) -> tuple[str, Path] | None:
    """(commit, snapshot folder) of `ref` in the cache, complete, without any network call; None when missing."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import IncompleteSnapshotError, LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(ref.repo_id, revision=ref.revision, cache_dir=cache_dir(),
                                        local_files_only=True, allow_patterns=FILES))
    except (LocalEntryNotFoundError, IncompleteSnapshotError, OSError):
        return None
    return (folder.name, folder) if (folder / "config.json").is_file() else None


def missing_where() -> str:
    return f"the Hugging Face cache ({cache_dir()})"


def missing(ref: HubRef) -> StudentError:
    """What to say when `ref` is not in the cache."""
    where = missing_where()
    if offline():
        return StudentError(f"student {ref} is not in {where}, and HF_HUB_OFFLINE=1 forbids downloading it. Copy the "
                            "cache from a machine that has it (`hf download " + ref.repo_id + "` there), or unset "
                            "HF_HUB_OFFLINE so a worker job can download it.")
    return StudentError(f"student {ref} is not downloaded yet (not in {where}). Download it first: the Projects "
                        f"page's student step, or `elad student download {ref}`.")


def download(ref: HubRef, progress: Progress | None = None) -> tuple[str, Path]:
    """Download `ref` into the cache (only what a causal LM needs) and return (commit, snapshot folder). Run by a
    worker job or the CLI, never in a page. StudentError names what went wrong (offline, unknown id, gated)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    found = cached(ref)
    if found is not None:
        return found
    if offline():
        raise missing(ref)
    try:
        folder = Path(snapshot_download(ref.repo_id, revision=ref.revision, cache_dir=cache_dir(),
                                        allow_patterns=FILES, tqdm_class=_bar_class(progress),
                                        endpoint=os.environ.get("HF_ENDPOINT") or None))
    except RevisionNotFoundError:
        raise StudentError(f"student {ref}: the hub has no revision {ref.revision!r} of {ref.repo_id}.") from None
    except GatedRepoError:
        raise StudentError(f"student {ref}: the repository is gated; accept its terms on huggingface.co and give the "
                           "worker a token (HF_TOKEN).") from None
    except RepositoryNotFoundError:
        raise StudentError(f"student {ref}: no such repository on the hub (or it is private: set HF_TOKEN).") from None
    except LocalEntryNotFoundError as e:  # no answer from the hub, and nothing in the cache
        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        raise StudentError(f"student {ref} could not be downloaded: the hub at {endpoint} cannot be reached "
                           f"({str(e).splitlines()[0].removeprefix('Got: ')[:200]}), and {missing_where()} does not "
                           "hold it. On a machine without internet, copy the cache from one that has it.") from None
    except (HfHubHTTPError, OSError) as e:
        raise StudentError(f"student {ref} could not be downloaded: {str(e).splitlines()[0][:300]}") from None
    if not (folder / "config.json").is_file():
        raise StudentError(f"student {ref}: the repository has no config.json; it is not a transformers model.")
    if not any(folder.glob("*.safetensors")):
        raise StudentError(f"student {ref}: the repository has no safetensors weights, which the engine loads.")
    return folder.name, folder


def _bar_class(progress: Progress | None):
    """A tqdm class for snapshot_download that reports the bytes written so far (and in all) to `progress`."""
    from tqdm import tqdm

    class Bar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["file"] = io.StringIO()  # the engine's own progress is the job's; nothing on stderr
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            out = super().update(n)
            if progress is not None and self.unit == "B" and str(self.desc).startswith("Reconstruct"):
                progress(int(self.n), int(self.total or 0))
            return out

    return Bar


def source_record(ref: HubRef, commit: str) -> dict:
    """What is stored with the project (and shown): the id as asked, the commit it resolved to, and when."""
    return {"path": str(ref), "repo_id": ref.repo_id, "revision": ref.revision, "commit": commit,
            "resolved_at": time.time()}


def pinned_ref(source: dict | None, ref: HubRef) -> HubRef | None:
    """The commit a project pinned for `ref`, when its stored source is for the same id and revision."""
    if source and source.get("path") == str(ref) and source.get("commit"):
        return ref.at(source["commit"])
    return None


def project_student(store, project_id: int, ref: HubRef, progress: Progress | None = None) -> str:
    """`org/name@commit` for the project's student `ref`: its pinned commit (downloaded again if the cache lost it),
    else what `ref` resolves to now (the cache, else a download), pinned from then on."""
    pin = pinned_ref(store.projects.student_source(project_id), ref)
    commit, _ = download(pin or ref, progress)
    if pin is None:
        store.projects.set_student_source(project_id, source_record(ref, commit))
    return str(ref.at(commit))


def pin_if_cached(store, project_id: int, path: str) -> dict | None:
    """When the project's student.path is a hub id in the cache, pin the commit it resolves to now (no network);
    a pin of another student.path is dropped. Returns the stored source (None: nothing pinned yet)."""
    ref = parse_hub_id(path)
    source = store.projects.student_source(project_id)
    if source and source.get("path") != path:
        store.projects.set_student_source(project_id, None)
        source = None
    if ref is None or source is not None:
        return source
    found = cached(ref)
    if found is None:
        return None
    source = source_record(ref, found[0])
    store.projects.set_student_source(project_id, source)
    return source
