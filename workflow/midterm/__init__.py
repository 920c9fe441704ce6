"""中期检查: the midterm check of running projects."""
