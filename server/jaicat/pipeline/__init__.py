"""Machine-learning models behind one small interface (see models.py).

Nothing here imports Flask or peewee: the domain modules (analysis, regions, search, worker, people)
read and write the catalogue and hand plain images, strings and numpy arrays to these models.
"""
