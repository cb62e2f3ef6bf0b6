"""Labelled datasets: the class-folder layout that finetune and inspect read (``labelled``),
the dataset check's findings (``inspection``), the folder of links to reviewed photos that
``finetune --from`` trains on (``links``), and the folder of detection crops that ``finetune
--detections`` (or ``--from`` a CSV made with them) trains on (``crops``). No torch.
"""
