"""Local fakes of providers Tocsin talks to, each a real HTTP server on 127.0.0.1."""
