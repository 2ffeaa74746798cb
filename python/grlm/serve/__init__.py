"""``grlm serve``: grounding (and, with a model, recommendation) over HTTP.

The web stack (FastAPI, uvicorn) is the optional ``serve`` extra; nothing here is imported by
``import grlm``. :func:`grlm.serve.app.create_app` builds the application;
:mod:`grlm.cli.serve` runs it. The routes are in :mod:`grlm.serve.routes` (one module per
concern), the request and response models in :mod:`grlm.serve.protocol`, and what they answer
from in :class:`grlm.serve.service.Service`.
"""
