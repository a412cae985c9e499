"""The sealed envelope: header, recipient stanzas, signature and chunked AEAD payload."""
