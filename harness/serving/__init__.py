"""Systems under test behind a network.

``python -m harness serve`` (cli.py) loads a benchmark's model with one of the
harness's backends and answers batches of staged samples over HTTP (app.py,
harness/backends/wire.py); the language models answer the OpenAI completions protocol
(openai_app.py). The client side is a backend like any other
(harness/backends/remote.py, harness/backends/openai_endpoint.py): LoadGen,
the QSL and the checks stay where pytest runs.
"""
