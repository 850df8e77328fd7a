"""Export: build the adapter, the merged model, the model card and the approved dataset of a chosen round (a
worker job), then download each from the browser; the server path is shown too."""

import streamlit as st

from elad_engine.export import best_round, exports, zip_folder
from elad_engine.worker import enqueue_export, request_stop
from ui.engine import active_job, can, current_project, store, user

name, pid = current_project()
st.title(f"Export · {name}")
trained = [r["round"] for r in store().rounds(pid) if store().training_run(pid, r["round"])]
if not trained:
    st.info("No trained round yet: an export needs a round whose training phase has finished.")
    st.stop()
best = best_round(store(), pid)
rnd = st.selectbox("Round", trained, index=trained.index(best) if best in trained else len(trained) - 1,
                   format_func=lambda r: f"round {r}" + (" (best test accuracy)" if r == best else ""))
merged = st.checkbox("Also build the merged model (base + adapter in one folder)", value=True)
job = active_job(pid, "export")
busy = job is not None and job["status"] in ("queued", "running", "stopping")
if st.button("Build the export", type="primary", disabled=busy or not can("export")):
    enqueue_export(store(), pid, rnd, merged, actor=user())
    st.rerun()


@st.fragment(run_every=1.0)
def status() -> None:
    job = active_job(pid, "export")
    if job is None:
        return
    if job["status"] in ("queued", "running", "stopping"):
        st.info(f"Export job {job['id']}: {job['status']} ...")
        if st.button("Cancel the export", disabled=not can("export")):
            request_stop(store(), job["id"], "cancelled", actor=user())
    elif job["status"] == "failed":
        st.error("The last export failed (the reason is below).")
        st.text(job["error"] or "")
    elif job["status"] == "done":
        st.success(job["message"] or "done")


status()
for e in exports(store(), pid):
    with st.expander(f"Round {e['round']} export", expanded=e["round"] == rnd):
        st.text(f"on the server: {e['folder']}")
        if st.button("Prepare the whole export as a zip", key=f"zip-{e['round']}-all"):
            zip_folder(e["folder"])
        whole = e["folder"].with_suffix(".zip")
        if whole.exists():
            st.download_button(f"Download the whole export ({whole.stat().st_size / 1e6:.1f} MB)", whole.read_bytes(),
                               file_name=f"{name}-round{e['round']}-export.zip", key=f"dl-{e['round']}-all")
        for part, path in e["parts"].items():
            if path.is_dir():
                if st.button(f"Prepare {part}.zip", key=f"zip-{e['round']}-{part}"):
                    zip_folder(path)
                z = path.with_suffix(".zip")
                if z.exists():
                    st.download_button(f"Download {part}.zip ({z.stat().st_size / 1e6:.1f} MB)", z.read_bytes(),
                                       file_name=f"{name}-round{e['round']}-{part}.zip", key=f"dl-{e['round']}-{part}")
            else:
                st.download_button(f"Download {part}", path.read_bytes(), file_name=f"{name}-round{e['round']}-{part}",
                                   key=f"dl-{e['round']}-{part}")
