"""ECG data: sources (WFDB, challenge .mat, original layouts, synthetic), preprocessing, splits
and the prepared-dataset cache every later step reads."""
