"""项目变更/调整: change requests of running projects (``states.CHANGE``)."""
