"""What a person configures and where it lives: paths, URLs, secrets, profiles,
and the refusal of a damaged configuration."""
