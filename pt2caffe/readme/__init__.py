"""The README's generated tables, each rewritten between its marker lines: the op coverage table
(:mod:`.coverage`, from the handler registry) and the runtime table (:mod:`.runtime_table`, from the
measured layer forms)."""
