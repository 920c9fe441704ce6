"""项目档案: a closed project's file (结题, 验收不通过 or 终止) exported as one zip with an
index PDF (``00-档案目录.pdf``), built by the worker as a job.

The archive is a list of **sections** (``workflow/archive/sections.py``): each a function
``app -> list[ArchiveItem]`` that names the files it contributes (path inside its folder,
category, date formed, the bytes, read lazily, and whether the item is internal to the
bureau). To add a part (中期检查, 结题验收, 绩效评价 …) write such a function in the feature
and add one ``Section(...)`` to ``sections.SECTIONS`` (or ``sections.register`` it from
the app factory); nothing else changes: the builder numbers the section's folder, lists
its files in the index, leaves its internal items out of the applicant's copy, and, when
the section gives ``last_change``, counts its rows when it says whether an archive is
still current.

Two copies exist: the bureau's (完整版: officers, leaders, auditors) and the applicant's
(申请人版: the principal investigator and the unit's research office), which leaves out
what only the bureau reads (``ArchiveItem.internal``): who else was invited to review and
why they declined or withdrew (conflicts, 回避), the funding lists with their meeting
(三重一大) and its minutes, the objections of the public notice (the objectors' names and
contacts), the ledger with the call's balances and the payees' accounts, and the full
audit trail (every row of the project, with IP addresses and data); the team gets the
trail of what it reads itself (申报书, 里程碑, 拨付, 变更, 年度报告, 追回) without them.
Experts appear as 专家1, 专家2… in both, never by name (``sections.expert_labels``; a name
quoted in a comment or an opinion is replaced too), also in file names and PDF metadata.

Building (``building.py``) is deterministic: the same state of the project gives the same
bytes (entries in a fixed order, each dated at the project's last recorded change, the
spreadsheets' own timestamps fixed, the PDFs rendered without a clock).
"""
