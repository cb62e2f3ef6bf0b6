"""The on-disk contracts other tools and later runs read: the predictions CSV and its sidecar
(``predictions``), the review's corrections (``corrections``), the sort journal (``journal``).
"""
