"""Annual reports (年度报告) of running projects: opened each year, filed by the team,
endorsed by the unit, accepted by the officer; an overdue one blocks its PI's new
applications (限项)."""
