"""What every inbound webhook (trigger events, n8n callbacks, and later billing and CMS hooks) shares.

- ``signature``: the ``X-Signature: t=<unix seconds>,v1=<hex>`` scheme. HMAC-SHA256 over the
  timestamp, the target (the trigger's token, the run's id) and the raw body; five minutes of
  tolerance; a signature accepted once is refused if it comes again.
- ``payload``: a webhook body parsed as JSON that PostgreSQL's ``jsonb`` can store (no NaN or
  Infinity, no ``\\u0000``, no lone surrogates, bounded depth and size), or a clear refusal.
"""
