"""The sort stage: where each file goes (names, plan), placing it without ever losing one
(journal, apply, fileops) and putting it back (undo). Never imports torch or classification:
``animalsort._api.sort_folder`` classifies first when there is no CSV.
"""
