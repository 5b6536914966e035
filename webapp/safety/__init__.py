"""Safety screening before a scan: a patient's safety record (allergies, kidney function,
pregnancy, implants, metformin, weight), the rules that act on it (``rules.py``, one table, mirrored
in docs/safety.md), and how they bear on orders (``screening.py``: alerts, clearing a stop,
protocol, arrival)."""
