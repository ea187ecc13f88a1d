"""What the REST API and the web UI share: request dependencies, error answers, body limits."""
