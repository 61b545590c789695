"""Adapters to other libraries; each needs its own extra (for example ``vecdb[langchain]``)."""
