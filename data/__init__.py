"""The files ELAD Studio ships: the tiny demo student (tiny-student/) and example accelerate configs (deploy/).
This folder is installed as the package `elad_data` so that importlib.resources finds it in any install
(elad_engine/resources.py); it holds no code."""
