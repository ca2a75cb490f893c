"""``make paper``: the pipeline at the paper's scale in bounded, resumable steps (``paper_run``).

    python -m scripts.paper [--home H] [--hours 1.5] [--until STAGE]   one step; exit 3: run it again
    python -m scripts.paper status                                     the ledger as a table
    python -m scripts.paper redo STAGE ...                             measure stages again in the next step
"""

from paper_run.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
