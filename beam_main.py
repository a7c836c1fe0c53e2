"""Entry point of a pipeline run: ``python beam_main.py --recipe llama1 [flags] [Beam options]``.

Same as ``llamacorpus run`` and ``python -m llamacorpus run``; see ``python beam_main.py --help``.
"""
import sys

from llamacorpus.pipeline.run import main

if __name__ == "__main__":
    sys.exit(main())
