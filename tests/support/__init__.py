"""Helpers the reliability tests hand to subprocesses: a recording email backend and a dispatcher script."""
