"""The few Streamlit widgets the pages share: the only part of nbsupport that imports Streamlit."""
