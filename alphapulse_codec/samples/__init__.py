"""Sample data: a session with every message type (session.py) and realistic synthetic
captures of any size (synthetic.py), for the demo, the tests and the benchmarks."""
