"""ecg-edge: ECG rhythm classifiers from recordings to wearable microcontrollers."""

__version__ = "0.1.0"
