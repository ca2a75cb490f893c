"""The paper-scale run (``make paper``): stages, ledger, runner and report."""
