"""The fit check's findings on a page (the guided setup's last step, the Rounds page): each refusal with what does
not fit and the way out, overrides and notes below; the engine's text is shown as plain text."""

from __future__ import annotations

import streamlit as st


def show_fit(findings: list[dict]) -> bool:
    """Draw the findings of `studio().projects.check_fit` or `studio().rounds.fit`; True when rounds are refused."""
    refused = [f for f in findings if f["refuses"]]
    if refused:
        st.error(f"The fit check refuses this project: it cannot learn as configured ({len(refused)} misfit"
                 f"{'s' * (len(refused) != 1)}). What does not fit, and the way out:")
        st.code("\n\n".join(f"[{f['check']}] {f['message']}" for f in refused), language=None, wrap_lines=True)
    for f in findings:
        if f["overridden"]:
            st.warning(f"Fit check `{f['check']}` overridden by rounds.allow_misfit (an experiment; the job log "
                       "records it):")
            st.code(f["message"], language=None, wrap_lines=True)
        elif not f["refuses"]:
            st.caption(f"Fit check note: {f['message']}")
    if not findings:
        st.caption("Fit check: the student, the teacher and the data fit together.")
    return bool(refused)
