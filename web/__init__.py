"""The HTTP surface, the pages, the command line: the composition root of FabLab Hub."""
