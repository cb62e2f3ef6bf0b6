"""Labelled datasets: the class-folder layout that finetune and inspect read (``labelled``),
the dataset check's findings (``inspection``), and the folder of links to reviewed photos that
``finetune --from`` trains on (``links``). No torch.
"""
