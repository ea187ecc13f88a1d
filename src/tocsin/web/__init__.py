"""The browser interface: server-rendered pages for responders and the public status page.

Every page is HTML from Jinja2 templates with autoescaping, every form posts back with the
session's CSRF token, and every change goes through the same `tocsin.store` service layer as the
CLI and the API. Pages work without JavaScript; a small script of our own refreshes the live
parts (dashboard, timeline) and copies texts.
"""
