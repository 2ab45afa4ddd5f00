"""Simulator of the plan's source systems (S1–S5 in shared/design/sources.md).

It lives apart from the pipeline: the pipeline never imports it and only knows URLs,
tokens and folders. Tests use it as the source and as the independent truth.
"""
