"""What a person runs: the `stance` command, archive scoring and the article views."""
