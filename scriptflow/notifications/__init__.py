"""Notifications: POST a JSON (or Slack) document per run event to configured URLs.

Opt-in only (``notify`` in the configuration, ``run --notify URL``); sent from
background threads so a slow or dead target never slows a run down.
"""
