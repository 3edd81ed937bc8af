"""Command-line programs, installed as console entry points (setup.py): thin layers
over library functions that parse flags and print."""
