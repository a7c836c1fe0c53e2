"""Recipe, options, Beam graph assembly, IO, statistics and mixing."""
