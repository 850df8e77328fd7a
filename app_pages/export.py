"""Export: build the adapter, the merged model, GGUF files with an Ollama Modelfile (where llama.cpp's tools are
installed), the model card and the approved dataset of a chosen round (a worker job), then download each from the
browser (roles with the export permission only; a file over 64 MB is read when its button is pressed, not on every
rerun); the server path is shown to them too. "Try the student" answers a typed question with any trained round's
student (a worker job)."""

import streamlit as st

from elad_engine.service import ACTIVE_JOB, JobStatus, Permission
from ui.engine import can, current_project, studio
from ui.try_student import try_student

name, project_id = current_project()
st.title(f"Export · {name}")
trained = studio().exports.trained_rounds(project_id)
if not trained:
    st.info("No trained round yet: an export needs a round whose training phase has finished.")
    st.stop()
best = studio().exports.best_round(project_id)
rnd = st.selectbox("Round", trained, index=trained.index(best) if best in trained else len(trained) - 1,
                   format_func=lambda r: f"round {r}" + (" (best test accuracy)" if r == best else ""))
merged = st.checkbox("Also build the merged model (base + adapter in one folder)", value=True)
gguf_missing = studio().exports.gguf_unavailable()
gguf = st.checkbox("GGUF files and an Ollama Modelfile (llama.cpp, Ollama, LM Studio)", value=not gguf_missing,
                   disabled=bool(gguf_missing) or not merged, help=gguf_missing)
job = studio().exports.job(project_id)
drawn = None if job is None else (job["id"], job["status"])  # what the button and the downloads were drawn for
busy = job is not None and job["status"] in ACTIVE_JOB
if st.button("Build the export", type="primary", disabled=busy or not can(Permission.EXPORT)):
    # checked: written where llama.cpp's tools can convert this model (the card and the job say why not)
    studio().exports.start(project_id, rnd, merged, None if gguf and merged and not gguf_missing else False)
    st.rerun()


# The status polls only while an export is queued or running: a deferred download pressed while a fragment reruns can
# stay disabled (seen in the browser test), and an idle page has nothing to poll for.
@st.fragment(run_every=1.0 if busy else None)
def status() -> None:
    job = studio().exports.job(project_id)
    if (None if job is None else (job["id"], job["status"])) != drawn:
        st.rerun()  # the export started or ended: redraw the page, so its button and the new downloads follow
    if job is None:
        return
    if job["status"] in ACTIVE_JOB:
        rounds = studio().rounds.job(project_id)
        waits = job["status"] == JobStatus.QUEUED and rounds is not None and rounds["status"] in ACTIVE_JOB
        st.info(f"Export job {job['id']}: {job['status']} ..." + (
            f" It waits for the running round job {rounds['id']} to finish: the worker runs one job at a time, and "
            "the export must not read a round that is still training." if waits else ""))
        if st.button("Cancel the export", disabled=not can(Permission.EXPORT)):
            studio().exports.cancel(job["id"])
    elif job["status"] == JobStatus.FAILED:
        st.error("The last export failed (the reason is below).")
        st.text(job["error"] or "")
    elif job["status"] == JobStatus.DONE:
        st.success(job["message"] or "done")


status()
EAGER_BYTES = 64 * 1024 * 1024  # files up to this size are sent with the page; bigger ones only when pressed


def download(label: str, path, file_name: str, key: str) -> None:
    """A download button: a small file's bytes go with the page (a deferred download pressed during a rerun can
    stay disabled); a big one (a merged model) is read only when its button is pressed, never on every rerun."""
    data = path.read_bytes() if path.stat().st_size <= EAGER_BYTES else (lambda p=path: p.read_bytes())
    st.download_button(label, data, file_name=file_name, key=key)


may_export = can(Permission.EXPORT)
if not may_export:
    st.caption("Downloading exports (the model and the approved data) needs the export permission: ask an admin.")
for e in studio().exports.list(project_id):
    with st.expander(f"Round {e['round']} export", expanded=e["round"] == rnd):
        if not may_export:
            st.text(", ".join(e["parts"]))
            continue
        st.text(f"on the server: {e['folder']}")
        if st.button("Prepare the whole export as a zip", key=f"zip-{e['round']}-all", disabled=not may_export):
            studio().exports.zip(e["folder"])
        whole = e["folder"].with_suffix(".zip")
        if whole.exists():
            download(f"Download the whole export ({whole.stat().st_size / 1e6:.1f} MB)", whole,
                     f"{name}-round{e['round']}-export.zip", f"dl-{e['round']}-all")
        for part, path in e["parts"].items():
            if path.is_dir():
                if st.button(f"Prepare {part}.zip", key=f"zip-{e['round']}-{part}", disabled=not may_export):
                    studio().exports.zip(path)
                z = path.with_suffix(".zip")
                if z.exists():
                    download(f"Download {part}.zip ({z.stat().st_size / 1e6:.1f} MB)", z,
                             f"{name}-round{e['round']}-{part}.zip", f"dl-{e['round']}-{part}")
            else:
                download(f"Download {part}", path, f"{name}-round{e['round']}-{part}", f"dl-{e['round']}-{part}")

st.divider()
try_student(project_id, trained, best)
