"""The bundled LLaMA model, its trainer and the shard data loader."""
