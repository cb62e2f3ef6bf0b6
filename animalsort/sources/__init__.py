"""Where photos and clips come from, and how they become pixels: listing folders
(``listing``), manifests, object storage and shards (``manifests``, ``storage``), decoding
photos (``decode``: JPEG, PNG, HEIC/AVIF, …) and clips (``video``), and the model's input
(``preprocess``: resize and crop to uint8). No torch, no click.
"""
