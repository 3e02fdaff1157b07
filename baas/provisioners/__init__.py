"""Provisioners: where the nodes of a network run (``local`` processes, ``kubernetes``)."""
