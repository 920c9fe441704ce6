"""holidays: the holiday calendar (节假日安排) and the counting of periods."""
