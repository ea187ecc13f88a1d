"""Identity providers Tocsin signs people in with (OpenID Connect)."""
