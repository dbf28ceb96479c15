"""nbsupport: the Noon Barbari support console library (works without Streamlit)."""

__version__ = "0.1.0"
