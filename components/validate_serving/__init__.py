"""ValidateServing: infra validation of a candidate model in clickpipe's own server, no Docker."""
