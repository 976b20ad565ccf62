"""Claude through the Anthropic Messages API: one client (``client.py``: construction, retries,
pricing, usage, error mapping), the prompts and tool schemas (``prompts.py``), and two adapters on
top of it: the Layer B classifier (``classifier.py``) and the before/after vision verifier
(``vision.py``). ``chalicelib.bootstrap`` builds them; nothing here imports the SDK until a call."""
