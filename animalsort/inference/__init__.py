"""The classify stage: options → batches (DataLoader workers decode) → the model → scored rows
→ the predictions CSV; the local and Ray engines, bursts (sequences), merging shards' CSVs,
``animalsort bench``, and images held in memory (``Classifier.predict``).
"""
