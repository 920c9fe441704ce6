"""绩效评价: the performance evaluation of a project at its closure, kept on its people and
organisation."""
