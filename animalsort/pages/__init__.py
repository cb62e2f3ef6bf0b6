"""Pages a person looks at: the HTML shell and thumbnails they share, the report of a
predictions CSV, Grad-CAM (explain), the dataset check's page, and the review page, its
session and its local server. Only ``explain`` imports the model (it needs gradients).
"""
