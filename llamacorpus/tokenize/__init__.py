"""SentencePiece tokenizer training, Megatron shard writer and reader."""
