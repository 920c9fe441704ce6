"""结题验收: the team's package, the panel, 财务验收 and the conclusion (验收结论书)."""
